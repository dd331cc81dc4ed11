// Pod volumes: emptyDir and projected configMap/secret files live under the pod's directory in
// the node's state dir; hostPath points at the host. Docker containers get them as bind mounts;
// process pods (which share the host's filesystem) find each volume at
// `$TUG_VOLUMES/<volume name>` and, per mount, at the path in `TUG_MOUNT_<MOUNT PATH>`.
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Container, KubeObject, Pod } from '../api/types.js';
import type { Mount } from './runtime/types.js';
import { ContainerConfigError, type EnvSources } from './podenv.js';

export function podDir(stateDir: string, podUid: string): string {
  return join(stateDir, 'pods', podUid);
}

function volumesDir(stateDir: string, podUid: string): string {
  return join(podDir(stateDir, podUid), 'volumes');
}

/**
 * Projects a ConfigMap's or Secret's keys as files. It runs at every pod sync while the pod's
 * processes may be reading them, so nothing that did not change is touched, a changed file is
 * replaced whole (written beside it, then renamed over it), and only keys that are gone are removed.
 */
function projectFiles(dir: string, obj: KubeObject, isSecret: boolean, items: { key: string; path: string; mode?: number }[] | undefined, defaultMode: number | undefined): void {
  mkdirSync(dir, { recursive: true });
  const data = { ...((obj.data ?? {}) as Record<string, string>), ...(isSecret ? {} : ((obj.binaryData ?? {}) as Record<string, string>)) };
  const pick = items?.length ? items : Object.keys(data).map((key) => ({ key, path: key, mode: undefined }));
  const wanted = new Map<string, { bytes: Buffer; mode: number }>();
  for (const item of pick) {
    const raw = data[item.key];
    if (raw === undefined) throw new ContainerConfigError(`key "${item.key}" not found in ${isSecret ? 'secret' : 'configmap'} "${obj.metadata.name}"`);
    const binary = isSecret || (obj.binaryData as Record<string, string> | undefined)?.[item.key] !== undefined;
    wanted.set(item.path, { bytes: binary ? Buffer.from(raw, 'base64') : Buffer.from(raw), mode: item.mode ?? defaultMode ?? (isSecret ? 0o400 : 0o644) });
  }
  // A removed key does not linger.
  for (const entry of readdirSync(dir)) {
    if (![...wanted.keys()].some((p) => p === entry || p.startsWith(`${entry}/`))) rmSync(join(dir, entry), { recursive: true, force: true });
  }
  for (const [path, { bytes, mode }] of wanted) {
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

/**
 * Materialises the pod's volumes and returns, per container, the mounts it asks for. Throws
 * ContainerConfigError naming a missing ConfigMap, Secret or key.
 */
export async function prepareVolumes(stateDir: string, pod: Pod, sources: EnvSources): Promise<Map<string, string>> {
  const ns = pod.metadata.namespace ?? 'default';
  const base = volumesDir(stateDir, pod.metadata.uid!);
  const paths = new Map<string, string>();
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
      if (!obj) {
        if (ref.optional) {
          mkdirSync(dir, { recursive: true });
          paths.set(name, dir);
          continue;
        }
        throw new ContainerConfigError(`${isSecret ? 'secret' : 'configmap'} "${objName}" not found (volume "${name}")`);
      }
      projectFiles(dir, obj, isSecret, ref.items, ref.defaultMode);
      paths.set(name, dir);
    }
  }
  return paths;
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

/** How a process pod finds its volumes: TUG_VOLUMES and one TUG_MOUNT_<PATH> per mount. */
export function volumeEnv(stateDir: string, podUid: string, mounts: Mount[]): Record<string, string> {
  const env: Record<string, string> = { TUG_VOLUMES: volumesDir(stateDir, podUid) };
  for (const m of mounts) env[`TUG_MOUNT_${m.containerPath.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '').toUpperCase()}`] = m.hostPath;
  return env;
}

export function removePodDir(stateDir: string, podUid: string): void {
  rmSync(podDir(stateDir, podUid), { recursive: true, force: true });
}
