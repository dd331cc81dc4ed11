// Relays `pods/{name}/log` and `pods/{name}/exec` to the node running the pod, as kube-apiserver
// does with kubelets: logs are streamed through, and exec's upgraded WebSocket connection is
// passed through byte for byte once the node has accepted it. Control authenticates with its own
// client certificate (no token ever goes to a node) and talks only to a node API whose
// certificate the cluster CA issued for that node's name.
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { errors } from '../../api/errors.js';
import { resourceOfKind } from '../../api/resources.js';
import type { Node, Pod } from '../../api/types.js';
import type { Registry } from './registry.js';

const POD = resourceOfKind('Pod');
const NODE = resourceOfKind('Node');
/** How long a node API may take to complete the handshake and answer. */
const NODE_CONNECT_TIMEOUT_MS = 10_000;

/** How control authenticates to nodes and checks them: its kubelet-client certificate, and the cluster CA. */
export interface NodeClientCredentials {
  cert: string;
  key: string;
  caCert: string;
}

export interface NodeTarget {
  host: string;
  port: number;
  nodeName: string;
}

/** Where the pod's node API is. Only the address comes from the Node object; who answers there is checked by its certificate. */
export async function nodeTargetFor(registry: Registry, pod: Pod): Promise<NodeTarget> {
  const nodeName = pod.spec.nodeName;
  if (!nodeName) throw errors.badRequest(`pod "${pod.metadata.name}" is not scheduled to a node yet`);
  const node = (await registry.get(NODE, undefined, nodeName).catch(() => undefined)) as Node | undefined;
  if (!node) throw errors.badRequest(`node "${nodeName}" of pod "${pod.metadata.name}" is not registered`);
  const status = (node.status ?? {}) as { addresses?: { type: string; address: string }[]; daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } };
  const host = status.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const port = status.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!host || !port) throw errors.badRequest(`node "${nodeName}" has not published its node API address`);
  return { host, port, nodeName };
}

/**
 * TLS options towards a node: control's client certificate, and a server certificate that must
 * be the cluster CA's for that node's name (`system:node:<name>`, DNS name <name>), whatever
 * address the Node object gave.
 */
function tlsTowards(target: NodeTarget, creds: NodeClientCredentials) {
  return {
    ca: creds.caCert,
    cert: creds.cert,
    key: creds.key,
    servername: isIP(target.nodeName) ? undefined : target.nodeName,
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const cn = [cert.subject?.CN ?? []].flat()[0];
      if (cn !== `system:node:${target.nodeName}`) return new Error(`the node API at ${target.host}:${target.port} is not node "${target.nodeName}" (its certificate names ${cn ?? 'no one'})`);
      return checkServerIdentity(target.nodeName, cert);
    },
  };
}

function nodePath(pod: Pod, action: 'log' | 'exec', query: string): string {
  return `/pods/${encodeURIComponent(pod.metadata.namespace!)}/${encodeURIComponent(pod.metadata.name!)}/${action}${query ? `?${query}` : ''}`;
}

/** GET the pod's log from its node; resolves with a streaming Response. */
export async function relayLog(registry: Registry, namespace: string, name: string, query: URLSearchParams, creds: NodeClientCredentials, signal: AbortSignal): Promise<Response> {
  const pod = (await registry.get(POD, namespace, name)) as Pod;
  const target = await nodeTargetFor(registry, pod);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: target.host,
        port: target.port,
        path: nodePath(pod, 'log', query.toString()),
        ...tlsTowards(target, creds),
        agent: false,
        signal,
      },
      (res) => {
        // Answered: a followed log may now stay quiet as long as the container does.
        req.setTimeout(0);
        resolve(res);
      },
    );
    req.on('error', (e) => reject(errors.internal(`cannot reach node "${pod.spec.nodeName}" at ${target.host}:${target.port}: ${e.message}`, e)));
    // A listener that never answers the handshake or the request must not hold the client forever.
    req.setTimeout(NODE_CONNECT_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${NODE_CONNECT_TIMEOUT_MS / 1000} s`)));
    req.end();
  });
  res.on('error', () => undefined);
  if (res.statusCode !== 200) {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // plain text from the node
    }
    throw (res.statusCode ?? 500) === 404 ? errors.notFound('pods', name) : errors.badRequest(message);
  }
  return new Response(Readable.toWeb(res) as ReadableStream, { status: 200, headers: { 'Content-Type': 'text/plain' } });
}

/**
 * Passes an exec upgrade request through to the node: the node answers the WebSocket handshake
 * and speaks the remotecommand protocol; we pipe the two connections together.
 */
export async function relayExecUpgrade(registry: Registry, req: IncomingMessage, socket: Duplex, head: Buffer, pod: Pod, creds: NodeClientCredentials): Promise<void> {
  const target = await nodeTargetFor(registry, pod);
  const url = new URL(req.url ?? '/', 'https://control');
  const upstream = tlsConnect({ host: target.host, port: target.port, ...tlsTowards(target, creds) });
  upstream.on('error', () => socket.destroy());
  socket.on('error', () => upstream.destroy());
  await new Promise<void>((resolve, reject) => {
    upstream.once('secureConnect', () => {
      upstream.setTimeout(0);
      resolve();
    });
    upstream.once('error', reject);
    upstream.setTimeout(NODE_CONNECT_TIMEOUT_MS, () => upstream.destroy(new Error(`node "${target.nodeName}" did not complete the TLS handshake within ${NODE_CONNECT_TIMEOUT_MS / 1000} s`)));
  });
  const headers: string[] = [`GET ${nodePath(pod, 'exec', url.searchParams.toString())} HTTP/1.1`, `Host: ${target.host}:${target.port}`];
  for (const name of ['upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions']) {
    const value = req.headers[name];
    if (value !== undefined) headers.push(`${name}: ${Array.isArray(value) ? value.join(', ') : value}`);
  }
  upstream.write(headers.join('\r\n') + '\r\n\r\n');
  if (head.length) upstream.write(head);
  upstream.pipe(socket);
  socket.pipe(upstream);
  socket.on('close', () => upstream.destroy());
  upstream.on('close', () => socket.destroy());
}
