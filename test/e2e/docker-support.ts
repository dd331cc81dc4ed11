// Helpers for tests that need a real Docker engine (test/requirements.ts checks that one answers):
// a client, and the local busybox test image (notes/docker.md). No image can be pulled from
// outside here: the test image is imported from busybox-static, and pull tests serve it from a
// registry on loopback (image-pull.test.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { DOCKER_SOCKET } from '../requirements.js';

export const BUSYBOX_IMAGE = 'local/busybox:1';
/** The applets the image links to busybox, as in notes/docker.md. */
const APPLETS = ['sh', 'httpd', 'sleep', 'echo', 'cat', 'ls', 'wget', 'nc', 'ps', 'hostname', 'env', 'true', 'nslookup'];

/** A dockerode client of the engine; suites that call it declare `needs('docker')`. */
export function dockerClient(socketPath = DOCKER_SOCKET): Docker {
  return new Docker({ socketPath });
}

async function imagePresent(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return false;
    throw e;
  }
}

/**
 * Builds `local/busybox:1` with `docker import` from the host's static /bin/busybox, unless it is
 * already there. Test files run in parallel processes, so the build holds a lock directory; the
 * loser of the race waits for it and finds the image present.
 */
export async function ensureBusyboxImage(docker: Docker): Promise<string> {
  if (await imagePresent(docker, BUSYBOX_IMAGE)) return BUSYBOX_IMAGE;
  const lock = join(tmpdir(), 'tugboat-busybox-image.lock');
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    // A lock older than a minute belongs to a builder that died.
    if (Date.now() - lockAge(lock) > 60_000) rmSync(lock, { recursive: true, force: true });
    if (Date.now() > deadline) throw new Error(`waited 2 minutes for ${lock} (another test building ${BUSYBOX_IMAGE}); remove it if stale`);
    await new Promise((r) => setTimeout(r, 200));
    if (await imagePresent(docker, BUSYBOX_IMAGE)) return BUSYBOX_IMAGE;
  }
  try {
    if (!(await imagePresent(docker, BUSYBOX_IMAGE))) importBusybox(docker);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return BUSYBOX_IMAGE;
}

function lockAge(lock: string): number {
  try {
    return statSync(lock).mtimeMs;
  } catch {
    return Date.now();
  }
}

function importBusybox(docker: Docker): void {
  // The rootfs holds nothing but busybox, so it must be the static build.
  if (!existsSync('/bin/busybox') || spawnSync('ldd', ['/bin/busybox']).status === 0) {
    throw new Error(`building ${BUSYBOX_IMAGE} needs a static /bin/busybox: apt-get install -y busybox-static (or run .ci/docker.sh)`);
  }
  const work = mkdtempSync(join(tmpdir(), 'tug-busybox-'));
  try {
    const script = [
      'set -eo pipefail',
      'mkdir -p rootfs/bin rootfs/www rootfs/etc',
      'cp /bin/busybox rootfs/bin/',
      `for a in ${APPLETS.join(' ')}; do ln -sf busybox rootfs/bin/$a; done`,
      "echo ok > rootfs/www/index.html; echo 'root:x:0:0:root:/:/bin/sh' > rootfs/etc/passwd",
      `tar -C rootfs -c . | docker -H "unix://$SOCKET" import - ${BUSYBOX_IMAGE}`,
    ].join('\n');
    const socket = (docker.modem as { socketPath?: string }).socketPath ?? DOCKER_SOCKET;
    const res = spawnSync('bash', ['-c', script], { cwd: work, env: { ...process.env, SOCKET: socket }, encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`docker import of ${BUSYBOX_IMAGE} failed (exit ${res.status}):\n${res.stderr}${res.error ?? ''}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
