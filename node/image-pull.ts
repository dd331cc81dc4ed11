// What a node needs to pull a pod's images as kubelet does: the registry an image reference
// names, the credentials a pod's imagePullSecrets hold for it (kubernetes.io/dockerconfigjson,
// or the older kubernetes.io/dockercfg), and the back-off between failed pulls.
import type { KubeObject } from '../api/types.js';

/** One registry login from an image pull Secret. */
export interface RegistryCredential {
  /** The Secret it came from, to name in messages (never its contents). */
  secret: string;
  /** host[:port], as an image reference names it. */
  registry: string;
  username: string;
  password: string;
}

/** kubelet's image pull back-off: 10 s, doubling to 5 min. */
export const IMAGE_BACKOFF_INITIAL_MS = 10_000;
export const IMAGE_BACKOFF_MAX_MS = 300_000;

export function imageBackoffMs(failures: number): number {
  return Math.min(IMAGE_BACKOFF_INITIAL_MS * 2 ** Math.max(0, failures - 1), IMAGE_BACKOFF_MAX_MS);
}

const DOCKER_HUB = 'docker.io';

/** The registry host[:port] of an image reference: its first part when that names a host, else Docker Hub. */
export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return DOCKER_HUB;
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : DOCKER_HUB;
}

/** A docker config key (`https://host:port/v1/`, `host:port`) as host[:port]; Docker Hub's names as docker.io. */
function normalizeRegistry(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
  return ['index.docker.io', 'registry-1.docker.io', 'docker.io'].includes(host) ? DOCKER_HUB : host;
}

interface DockerAuth {
  username?: string;
  password?: string;
  auth?: string;
}

function loginOf(secret: string, key: string, entry: DockerAuth): RegistryCredential | undefined {
  let { username, password } = entry;
  if ((!username || password === undefined) && entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
  }
  if (!username || password === undefined) return undefined;
  return { secret, registry: normalizeRegistry(key), username, password };
}

/**
 * The logins in image pull Secrets, in the order given; a Secret of another type, or one whose
 * data does not parse, adds none and is named in `problems`.
 */
export function credentialsFrom(secrets: KubeObject[]): { credentials: RegistryCredential[]; problems: string[] } {
  const credentials: RegistryCredential[] = [];
  const problems: string[] = [];
  for (const s of secrets) {
    const name = s.metadata.name!;
    const data = ((s as { data?: Record<string, string> }).data ?? {}) as Record<string, string>;
    const type = (s as { type?: string }).type;
    const field = type === 'kubernetes.io/dockerconfigjson' ? '.dockerconfigjson' : type === 'kubernetes.io/dockercfg' ? '.dockercfg' : undefined;
    if (!field || data[field] === undefined) {
      problems.push(`Secret "${name}" is not of type kubernetes.io/dockerconfigjson with a .dockerconfigjson key`);
      continue;
    }
    try {
      const parsed = JSON.parse(Buffer.from(data[field], 'base64').toString('utf8')) as Record<string, unknown>;
      const auths = (field === '.dockerconfigjson' ? parsed.auths : parsed) as Record<string, DockerAuth> | undefined;
      for (const [key, entry] of Object.entries(auths ?? {})) {
        const login = entry && typeof entry === 'object' ? loginOf(name, key, entry) : undefined;
        if (login) credentials.push(login);
      }
    } catch (e) {
      problems.push(`Secret "${name}": ${field} is not valid JSON (${(e as Error).message})`);
    }
  }
  return { credentials, problems };
}

/** The logins to try for `image`, in order (kubelet then tries without one). */
export function credentialsFor(image: string, credentials: RegistryCredential[] = []): RegistryCredential[] {
  const registry = registryOf(image).toLowerCase();
  return credentials.filter((c) => c.registry === registry);
}
