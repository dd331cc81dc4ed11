// Who may use the node API, decided as kubelet decides it: the caller is the client certificate
// the TLS handshake verified against the cluster CA, or the bearer token control vouches for
// (TokenReview); control's own kubelet-client certificate is always let in, anyone else needs
// what a SubjectAccessReview for `nodes/proxy` on this node allows (`get` to read logs, `create`
// to exec). The token a node joined with means nothing here.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ApiClient } from '../api/client.js';
import { resourceOfKind } from '../api/resources.js';
import type { KubeObject } from '../api/types.js';

const TOKEN_REVIEW = resourceOfKind('TokenReview');
const SAR = resourceOfKind('SubjectAccessReview');
/** The identity of control's client certificate towards nodes (kube-apiserver's kubelet client). */
export const CONTROL_NODE_CLIENT = 'system:kube-apiserver-kubelet-client';

export interface Caller {
  username: string;
  groups: string[];
  uid?: string;
}

export type CallerDecision = { allowed: true; caller: Caller } | { allowed: false; code: 401 | 403; message: string };

function certificateCaller(req: IncomingMessage): Caller | undefined {
  const socket = req.socket as TLSSocket;
  if (!socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const subject = socket.getPeerCertificate()?.subject as { CN?: string | string[]; O?: string | string[] } | undefined;
  const cn = [subject?.CN ?? []].flat()[0];
  return cn ? { username: cn, groups: [subject?.O ?? []].flat() } : undefined;
}

async function tokenCaller(client: ApiClient, token: string): Promise<Caller | undefined> {
  const review = await client.create<KubeObject>(TOKEN_REVIEW, undefined, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', metadata: {}, spec: { token } });
  const status = (review.status ?? {}) as { authenticated?: boolean; user?: Caller };
  return status.authenticated && status.user?.username ? { username: status.user.username, groups: status.user.groups ?? [], uid: status.user.uid } : undefined;
}

async function mayProxy(client: ApiClient, caller: Caller, verb: string, nodeName: string): Promise<boolean> {
  const review = await client.create<KubeObject>(SAR, undefined, {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    metadata: {},
    spec: { user: caller.username, groups: caller.groups, uid: caller.uid, resourceAttributes: { verb, resource: 'nodes', subresource: 'proxy', name: nodeName } },
  });
  return (review.status as { allowed?: boolean } | undefined)?.allowed === true;
}

/** Decides whether the request may do `verb` (get: logs, create: exec) on this node's pods. */
export function nodeApiAuthorizer(client: ApiClient, nodeName: string): (req: IncomingMessage, verb: 'get' | 'create') => Promise<CallerDecision> {
  return async (req, verb) => {
    let caller = certificateCaller(req);
    if (!caller) {
      const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
      caller = token ? await tokenCaller(client, token).catch(() => undefined) : undefined;
    }
    if (!caller) return { allowed: false, code: 401, message: 'Unauthorized' };
    if (caller.username === CONTROL_NODE_CLIENT && caller.groups.includes('system:masters')) return { allowed: true, caller };
    if (await mayProxy(client, caller, verb, nodeName).catch(() => false)) return { allowed: true, caller };
    return { allowed: false, code: 403, message: `Forbidden (user=${caller.username}, verb=${verb}, resource=nodes, subresource=proxy)` };
  };
}
