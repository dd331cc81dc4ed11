// Node join tokens, kept as Kubernetes bootstrap-token Secrets in kube-system
// (`bootstrap-token-<id>`, type bootstrap.kubernetes.io/token), so they can be listed and
// revoked with kubectl. A token reads `<id>.<secret>`: 6 and 16 characters of [a-z0-9].
import { randomInt, timingSafeEqual } from 'node:crypto';
import { resourceOfKind } from '../api/resources.js';
import type { KubeObject } from '../api/types.js';
import type { Registry } from './apiserver/registry.js';

const SECRET = resourceOfKind('Secret');
const TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
export const BOOTSTRAP_TOKEN_TYPE = 'bootstrap.kubernetes.io/token';

function random(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

/** The Secret that makes a new node token valid, and the token itself. */
export function newNodeTokenSecret(description = 'tugboat node join token'): { token: string; secret: KubeObject } {
  const id = random(6);
  const secretPart = random(16);
  return {
    token: `${id}.${secretPart}`,
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' },
      type: BOOTSTRAP_TOKEN_TYPE,
      data: { 'token-id': b64(id), 'token-secret': b64(secretPart), 'usage-bootstrap-authentication': b64('true'), description: b64(description) },
    },
  };
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** True when `token` names a stored, unexpired bootstrap token whose secret matches. */
export async function isNodeToken(registry: Registry, token: string, now = new Date()): Promise<boolean> {
  const m = TOKEN_PATTERN.exec(token);
  if (!m) return false;
  const secret = await registry.get(SECRET, 'kube-system', `bootstrap-token-${m[1]}`).catch(() => undefined);
  if (!secret || secret.type !== BOOTSTRAP_TOKEN_TYPE) return false;
  const data = (secret.data ?? {}) as Record<string, string>;
  const stored = Buffer.from(data['token-secret'] ?? '', 'base64').toString();
  const expiration = data.expiration ? Buffer.from(data.expiration, 'base64').toString() : undefined;
  if (expiration && Date.parse(expiration) < now.getTime()) return false;
  return same(stored, m[2]);
}

export { same as tokensEqual };
