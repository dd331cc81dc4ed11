// Pod sandboxes for the docker runtime in the bridge network mode: one "pause" container per pod
// holds the pod's network namespace (as Kubernetes' pause container does) and every container of
// the pod joins it (`NetworkMode: container:<pause>`). The node names that namespace
// (`ip netns attach`) and wires it like a process pod's. The pause image is built on the node
// from a 129-byte static x86-64 program that only calls pause(2), so nothing is pulled.
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { LABEL, SANDBOX_LABEL } from './docker-labels.js';

export const PAUSE_IMAGE = 'tugboat/pause:1';

/** The pause program: `for (;;) pause();` as a minimal ELF executable (header, one segment, 9 bytes of code). */
export function pauseProgram(): Buffer {
  const code = Buffer.from([0xb8, 0x22, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]); // mov eax, SYS_pause; syscall; jmp back
  const size = 64 + 56 + code.length;
  const b = Buffer.alloc(size);
  b.write('\x7fELF', 'latin1');
  b.set([2, 1, 1], 4); // 64-bit, little endian, version 1
  b.writeUInt16LE(2, 16); // executable
  b.writeUInt16LE(0x3e, 18); // x86-64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(0x400000n + 120n, 24); // entry: the code after both headers
  b.writeBigUInt64LE(64n, 32); // program header offset
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(1, 56); // one program header
  b.writeUInt32LE(1, 64); // PT_LOAD
  b.writeUInt32LE(5, 68); // read + execute
  b.writeBigUInt64LE(0x400000n, 80);
  b.writeBigUInt64LE(0x400000n, 88);
  b.writeBigUInt64LE(BigInt(size), 96);
  b.writeBigUInt64LE(BigInt(size), 104);
  b.writeBigUInt64LE(0x1000n, 112);
  code.copy(b, 120);
  return b;
}

/** A tar archive (ustar) holding one executable file. */
export function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000755\0', 100, 'latin1');
  header.write('0000000\0', 108, 'latin1');
  header.write('0000000\0', 116, 'latin1');
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  header.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136, 'latin1');
  header.write('        ', 148, 'latin1'); // checksum counts as spaces while it is summed
  header.write('0', 156, 'latin1');
  header.write('ustar\0', 257, 'latin1');
  header.write('00', 263, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

export function sandboxContainerName(podUid: string): string {
  return `tug-sandbox-${podUid}`;
}

/** Why this machine cannot run docker pods in sandboxes, or undefined when it can. */
export function dockerSandboxProblem(): string | undefined {
  return process.arch === 'x64' ? undefined : `the pause program is built for x86-64 only (this machine is ${process.arch})`;
}

export class DockerSandboxes {
  private imageReady?: Promise<void>;

  constructor(
    private readonly docker: Docker,
    private readonly nodeName: string,
  ) {}

  /** Starts (or finds) the pod's pause container; resolves with the pid whose network namespace is the pod's. */
  async ensure(podUid: string, labels: { podName: string; namespace: string }): Promise<number> {
    const name = sandboxContainerName(podUid);
    const running = await this.pid(name);
    if (running) return running;
    await this.remove(podUid);
    await (this.imageReady ??= this.buildImage().catch((e) => {
      this.imageReady = undefined;
      throw e;
    }));
    const container = await this.docker.createContainer({
      name,
      Image: PAUSE_IMAGE,
      Entrypoint: ['/pause'],
      // The pod's containers share its namespaces: they see the pod's name as their host name, as in Kubernetes.
      Hostname: labels.podName.slice(0, 63),
      Labels: { [LABEL.podUid]: podUid, [LABEL.podName]: labels.podName, [LABEL.namespace]: labels.namespace, [LABEL.node]: this.nodeName, [SANDBOX_LABEL]: 'true' },
      HostConfig: { NetworkMode: 'none', LogConfig: { Type: 'none', Config: {} } },
    });
    await container.start();
    const pid = await this.pid(name);
    if (!pid) throw new Error(`the pause container ${name} stopped right after it started`);
    return pid;
  }

  /** Removes the pod's pause container (and with it docker's hold on the namespace). */
  async remove(podUid: string): Promise<void> {
    await this.docker
      .getContainer(sandboxContainerName(podUid))
      .remove({ force: true })
      .catch((e: { statusCode?: number }) => {
        if (e.statusCode !== 404 && e.statusCode !== 409) throw e;
      });
  }

  /** Whether the pod's pause container is running. */
  async alive(podUid: string): Promise<boolean> {
    return (await this.pid(sandboxContainerName(podUid))) !== undefined;
  }

  /** The pod uids with a pause container of this node. */
  async pods(): Promise<string[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL.node}=${this.nodeName}`, `${SANDBOX_LABEL}=true`] } });
    return list.map((c) => c.Labels[LABEL.podUid]).filter((uid): uid is string => !!uid);
  }

  private async pid(name: string): Promise<number | undefined> {
    try {
      const info = await this.docker.getContainer(name).inspect();
      return info.State.Running && info.State.Pid > 0 ? info.State.Pid : undefined;
    } catch {
      return undefined;
    }
  }

  private async buildImage(): Promise<void> {
    try {
      await this.docker.getImage(PAUSE_IMAGE).inspect();
      return;
    } catch {
      // not there yet: import it
    }
    const [repo, tag] = PAUSE_IMAGE.split(':');
    const stream = await this.docker.importImage(Readable.from([tarOf('pause', pauseProgram())]) as never, { repo, tag });
    await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
  }
}
