// ServiceAccount tokens for the pods on this node, as kubelet gets them: from the TokenRequest API,
// bound to the pod (so a token dies with its pod), one per pod, audience and lifetime, kept until
// 80% of its life has passed and then asked for again.
import type { ApiClient } from '../api/client.js';
import { resourceOfKind } from '../api/resources.js';
import type { KubeObject, Pod } from '../api/types.js';

const SERVICE_ACCOUNT = resourceOfKind('ServiceAccount');
const RENEW_AT = 0.8;

interface Held {
  token: string;
  refreshAt: number;
  expiresAt: number;
}

export class PodTokens {
  private readonly held = new Map<string, Held>();

  constructor(private readonly client: ApiClient) {}

  /** A token for `pod`'s ServiceAccount (`audience` unset: the API's), and when to ask again. */
  async tokenFor(pod: Pod, audience: string | undefined, expirationSeconds: number, now = Date.now()): Promise<{ token: string; refreshAt: number }> {
    for (const [key, h] of this.held) if (h.expiresAt <= now) this.held.delete(key);
    const key = `${pod.metadata.uid}/${audience ?? ''}/${expirationSeconds}`;
    const have = this.held.get(key);
    if (have && now < have.refreshAt) return have;
    const ns = pod.metadata.namespace ?? 'default';
    const sa = (pod.spec as { serviceAccountName?: string }).serviceAccountName || 'default';
    const answer = await this.client.request<KubeObject>('POST', this.client.pathFor(SERVICE_ACCOUNT, ns, sa, 'token'), {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { ...(audience ? { audiences: [audience] } : {}), expirationSeconds, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata.name, uid: pod.metadata.uid } },
      },
    });
    const status = (answer.status ?? {}) as { token?: string; expirationTimestamp?: string };
    if (!status.token) throw new Error(`the TokenRequest for serviceaccount ${ns}/${sa} returned no token`);
    const expiresAt = Date.parse(status.expirationTimestamp ?? '') || now + expirationSeconds * 1000;
    const held = { token: status.token, expiresAt, refreshAt: now + RENEW_AT * (expiresAt - now) };
    this.held.set(key, held);
    return held;
  }

  /** Forgets the tokens of a pod that is gone. */
  forget(podUid: string): void {
    for (const key of this.held.keys()) if (key.startsWith(`${podUid}/`)) this.held.delete(key);
  }
}
