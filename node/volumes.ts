// Pod volumes: emptyDir, configMap, secret, downwardAPI and projected volumes (with the pod's
// ServiceAccount token) live under the pod's directory in the node's state dir; hostPath points
// at the host. Docker containers get them as bind mounts, process pods too on a root node (in a
// private mount namespace, runtime/process-mounts.ts); process pods also find each volume at
// `$TUG_VOLUMES/<volume name>`, per mount at the path in `TUG_MOUNT_<MOUNT PATH>`, and under
// `$TUG_ROOT` at its mountPath.
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Container, KubeObject, Pod } from '../api/types.js';
import type { Mount } from './runtime/types.js';
import { ContainerConfigError, type EnvSources } from './podenv.js';

export function podDir(stateDir: string, podUid: string): string {
  return join(stateDir, 'pods', podUid);
}

function volumesDir(stateDir: string, podUid: string): string {
  return join(podDir(stateDir, podUid), 'volumes');
}

type Files = Map<string, { bytes: Buffer; mode: number }>;

/** The files a ConfigMap's or Secret's keys make (all keys, or `items`); a missing key is a ContainerConfigError. */
function objectFiles(obj: KubeObject, isSecret: boolean, items: { key: string; path: string; mode?: number }[] | undefined, defaultMode: number | undefined): Files {
  const data = { ...((obj.data ?? {}) as Record<string, string>), ...(isSecret ? {} : ((obj.binaryData ?? {}) as Record<string, string>)) };
  const pick = items?.length ? items : Object.keys(data).map((key) => ({ key, path: key, mode: undefined }));
  const files: Files = new Map();
  for (const item of pick) {
    const raw = data[item.key];
    if (raw === undefined) throw new ContainerConfigError(`key "${item.key}" not found in ${isSecret ? 'secret' : 'configmap'} "${obj.metadata.name}"`);
    const binary = isSecret || (obj.binaryData as Record<string, string> | undefined)?.[item.key] !== undefined;
    files.set(item.path, { bytes: binary ? Buffer.from(raw, 'base64') : Buffer.from(raw), mode: item.mode ?? defaultMode ?? (isSecret ? 0o400 : 0o644) });
  }
  return files;
}

/**
 * Writes `files` into `dir`. It runs at every pod sync while the pod's processes may be reading
 * them, so nothing that did not change is touched, a changed file is replaced whole (written
 * beside it, then renamed over it), and only files that are gone are removed.
 */
function writeFiles(dir: string, files: Files): void {
  mkdirSync(dir, { recursive: true });
  for (const entry of readdirSync(dir)) {
    if (![...files.keys()].some((p) => p === entry || p.startsWith(`${entry}/`))) rmSync(join(dir, entry), { recursive: true, force: true });
  }
  for (const [path, { bytes, mode }] of files) {
    const file = join(dir, path);
    if (sameFile(file, bytes, mode)) continue;
    mkdirSync(join(file, '..'), { recursive: true });
    const tmp = `${file}.tug-tmp`;
    writeFileSync(tmp, bytes);
    chmodSync(tmp, mode);
    renameSync(tmp, file);
  }
}

function sameFile(file: string, bytes: Buffer, mode: number): boolean {
  try {
    return (statSync(file).mode & 0o777) === mode && readFileSync(file).equals(bytes);
  } catch {
    return false;
  }
}

/** The files of a pod field the downward API names (metadata.name, labels, ...), or a ContainerConfigError. */
function fieldFile(pod: Pod, fieldPath: string): string {
  const meta = pod.metadata;
  const lines = (m: Record<string, string> | undefined) => Object.entries(m ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join('\n');
  const fields: Record<string, () => string | undefined> = {
    'metadata.name': () => meta.name,
    'metadata.namespace': () => meta.namespace ?? 'default',
    'metadata.uid': () => meta.uid,
    'metadata.labels': () => lines(meta.labels),
    'metadata.annotations': () => lines(meta.annotations),
    'spec.nodeName': () => pod.spec.nodeName,
    'spec.serviceAccountName': () => (pod.spec as { serviceAccountName?: string }).serviceAccountName,
  };
  const value = Object.hasOwn(fields, fieldPath) ? fields[fieldPath]() : undefined;
  if (value === undefined) throw new ContainerConfigError(`the downward API field "${fieldPath}" is not supported; use ${Object.keys(fields).join(', ')}`);
  return value;
}

type Source = Record<string, any>;

/**
 * The files of a projected volume: Secrets', ConfigMaps' and pod fields' files, and a token for
 * the pod's ServiceAccount; `refreshAt` is when that token must be asked for again.
 */
async function projectedFiles(pod: Pod, projected: Source, sources: EnvSources): Promise<{ files: Files; refreshAt?: number }> {
  const ns = pod.metadata.namespace ?? 'default';
  const defaultMode = projected.defaultMode as number | undefined;
  const files: Files = new Map();
  let refreshAt: number | undefined;
  for (const source of (Array.isArray(projected.sources) ? projected.sources : []) as Source[]) {
    if (source.secret || source.configMap) {
      const isSecret = !!source.secret;
      const ref = (source.secret ?? source.configMap) as { name?: string; items?: { key: string; path: string; mode?: number }[]; optional?: boolean };
      const obj = isSecret ? await sources.secret(ns, ref.name ?? '') : await sources.configMap(ns, ref.name ?? '');
      if (!obj) {
        if (ref.optional) continue;
        throw new ContainerConfigError(`${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found (projected volume)`);
      }
      for (const [path, file] of objectFiles(obj, isSecret, ref.items, defaultMode)) files.set(path, file);
    } else if (source.downwardAPI) {
      for (const item of (source.downwardAPI.items ?? []) as Source[]) {
        files.set(item.path, { bytes: Buffer.from(fieldFile(pod, item.fieldRef?.fieldPath ?? '')), mode: item.mode ?? defaultMode ?? 0o644 });
      }
    } else if (source.serviceAccountToken) {
      const t = source.serviceAccountToken as { audience?: string; expirationSeconds?: number; path: string };
      const { token, refreshAt: at } = await sources.serviceAccountToken(pod, t.audience, t.expirationSeconds ?? 3600);
      // The token is a credential: readable by the pod's user only, whatever the volume's mode.
      files.set(t.path, { bytes: Buffer.from(token), mode: 0o600 });
      refreshAt = Math.min(refreshAt ?? Infinity, at);
    }
  }
  return { files, refreshAt };
}

export interface PreparedVolumes {
  /** Each volume's directory (or file) on the node, by volume name. */
  paths: Map<string, string>;
  /** When a projected token is due for renewal: the pod must be synced again by then. */
  refreshAt?: number;
}

/**
 * Materialises the pod's volumes and returns where each is. Throws ContainerConfigError naming a
 * missing ConfigMap, Secret or key.
 */
export async function prepareVolumes(stateDir: string, pod: Pod, sources: EnvSources): Promise<PreparedVolumes> {
  const ns = pod.metadata.namespace ?? 'default';
  const base = volumesDir(stateDir, pod.metadata.uid!);
  const paths = new Map<string, string>();
  let refreshAt: number | undefined;
  for (const v of pod.spec.volumes ?? []) {
    const name = v.name as string;
    const dir = join(base, name);
    if (v.hostPath) {
      const path = (v.hostPath as { path: string; type?: string }).path;
      if ((v.hostPath as { type?: string }).type === 'DirectoryOrCreate') mkdirSync(path, { recursive: true });
      paths.set(name, path);
    } else if (v.emptyDir) {
      mkdirSync(dir, { recursive: true });
      paths.set(name, dir);
    } else if (v.configMap || v.secret) {
      const isSecret = !!v.secret;
      const ref = (v.configMap ?? v.secret) as { name?: string; secretName?: string; items?: { key: string; path: string; mode?: number }[]; optional?: boolean; defaultMode?: number };
      const objName = (isSecret ? ref.secretName : ref.name) ?? '';
      const obj = isSecret ? await sources.secret(ns, objName) : await sources.configMap(ns, objName);
      if (!obj && !ref.optional) throw new ContainerConfigError(`${isSecret ? 'secret' : 'configmap'} "${objName}" not found (volume "${name}")`);
      writeFiles(dir, obj ? objectFiles(obj, isSecret, ref.items, ref.defaultMode) : new Map());
      paths.set(name, dir);
    } else if (v.projected || v.downwardAPI) {
      const projected = (v.projected ?? { sources: [{ downwardAPI: v.downwardAPI }], defaultMode: (v.downwardAPI as Source).defaultMode }) as Source;
      const { files, refreshAt: at } = await projectedFiles(pod, projected, sources);
      writeFiles(dir, files);
      paths.set(name, dir);
      if (at !== undefined) refreshAt = Math.min(refreshAt ?? Infinity, at);
    }
  }
  return { paths, refreshAt };
}

export function mountsFor(container: Container, volumePaths: Map<string, string>): Mount[] {
  const mounts: Mount[] = [];
  for (const m of container.volumeMounts ?? []) {
    const hostPath = volumePaths.get(m.name);
    if (!hostPath) continue;
    mounts.push({ hostPath: m.subPath ? join(hostPath, m.subPath) : hostPath, containerPath: m.mountPath, readOnly: !!m.readOnly });
  }
  return mounts;
}

/**
 * How a process pod finds its volumes: TUG_VOLUMES, one TUG_MOUNT_<PATH> per mount, and TUG_ROOT,
 * a directory where each mount appears at its own mountPath (a link to the volume), so that
 * `$TUG_ROOT/var/run/secrets/kubernetes.io/serviceaccount/token` is the ServiceAccount token and a
 * client that takes a path prefix (the JavaScript client's `loadFromCluster(prefix)`) finds it.
 */
export function volumeEnv(stateDir: string, podUid: string, container: string, mounts: Mount[]): Record<string, string> {
  const root = join(podDir(stateDir, podUid), 'roots', container);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const env: Record<string, string> = { TUG_VOLUMES: volumesDir(stateDir, podUid), TUG_ROOT: root };
  for (const m of mounts) {
    env[`TUG_MOUNT_${m.containerPath.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '').toUpperCase()}`] = m.hostPath;
    const at = join(root, m.containerPath);
    // A mountPath that climbs out of the root (`..`) gets no link.
    if (!at.startsWith(`${root}/`)) continue;
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(m.hostPath, at);
  }
  return env;
}

export function removePodDir(stateDir: string, podUid: string): void {
  rmSync(podDir(stateDir, podUid), { recursive: true, force: true });
}
