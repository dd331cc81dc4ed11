// The hostport network mode: pods share the node's network, and each declared containerPort is
// served on a node port (its hostPort, else one from --port-range) handed to the pod as $PORT.
import type { Pod } from '../../api/types.js';
import type { PortAllocator } from '../ports.js';
import type { PodAttachment, PodNetwork } from './types.js';

export class HostportNetwork implements PodNetwork {
  readonly mode = 'hostport';

  constructor(
    private readonly nodeIP: string,
    private readonly ports: PortAllocator,
  ) {}

  carries(): boolean {
    return true;
  }

  start(): void {}

  async stop(): Promise<void> {}

  async attach(pod: Pod, _runtime?: string): Promise<PodAttachment> {
    const ports = await this.ports.assign(pod.metadata.uid!, [...(pod.spec.initContainers ?? []), ...pod.spec.containers]);
    return { podIP: this.nodeIP, ports };
  }

  async detach(uid: string): Promise<void> {
    this.ports.release(uid);
  }

  async collect(): Promise<void> {}
}
