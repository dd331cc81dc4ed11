// Tokens kept as Secrets in kube-system, so they can be listed and revoked with kubectl:
// node join tokens as Kubernetes bootstrap tokens (`bootstrap-token-<id>`, authenticating only as
// system:bootstrap:<id>), and user tokens (`user-token-<id>`) naming a user and groups for RBAC.
// A token reads `<id>.<secret>`: 6 and 16 characters of [a-z0-9].
import { randomInt } from 'node:crypto';
import type { KubeObject } from '../api/types.js';
import { BOOTSTRAP_TOKEN_TYPE, USER_TOKEN_TYPE } from './auth/index.js';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

function random(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function tokenSecret(prefix: string, type: string, data: Record<string, string>): { token: string; secret: KubeObject } {
  const id = random(6);
  const secretPart = random(16);
  const encoded = Object.fromEntries(Object.entries({ 'token-id': id, 'token-secret': secretPart, ...data }).map(([k, v]) => [k, b64(v)]));
  return {
    token: `${id}.${secretPart}`,
    secret: { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${prefix}-${id}`, namespace: 'kube-system' }, type, data: encoded },
  };
}

/** The Secret that makes a new node join token valid, and the token itself. */
export function newNodeTokenSecret(description = 'tugboat node join token'): { token: string; secret: KubeObject } {
  return tokenSecret('bootstrap-token', BOOTSTRAP_TOKEN_TYPE, { 'usage-bootstrap-authentication': 'true', description });
}

/** The Secret that makes a new token for `username` (in `groups`) valid, and the token itself. */
export function newUserTokenSecret(username: string, groups: string[], expiration?: Date): { token: string; secret: KubeObject } {
  return tokenSecret('user-token', USER_TOKEN_TYPE, {
    username,
    groups: groups.join(','),
    ...(expiration ? { expiration: expiration.toISOString() } : {}),
    description: `tugboat token for ${username}`,
  });
}
