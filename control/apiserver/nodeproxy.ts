// Relays `pods/{name}/log` and `pods/{name}/exec` to the node running the pod, as kube-apiserver
// does with kubelets: logs are streamed through, and exec's upgraded WebSocket connection is
// passed through byte for byte once the node has accepted it.
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { errors } from '../../api/errors.js';
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject, Node, Pod } from '../../api/types.js';
import type { Registry } from './registry.js';

const POD = resourceOfKind('Pod');
const NODE = resourceOfKind('Node');
const SECRET = resourceOfKind('Secret');

export const TOKEN_ID_ANNOTATION = 'tugboat.io/token-id';

export interface NodeTarget {
  host: string;
  port: number;
  token: string;
}

/** Where the pod's node API is, and the token that node accepts (the one it joined with). */
export async function nodeTargetFor(registry: Registry, pod: Pod, adminToken: string): Promise<NodeTarget> {
  const nodeName = pod.spec.nodeName;
  if (!nodeName) throw errors.badRequest(`pod "${pod.metadata.name}" is not scheduled to a node yet`);
  const node = (await registry.get(NODE, undefined, nodeName).catch(() => undefined)) as Node | undefined;
  if (!node) throw errors.badRequest(`node "${nodeName}" of pod "${pod.metadata.name}" is not registered`);
  const status = (node.status ?? {}) as { addresses?: { type: string; address: string }[]; daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } };
  const host = status.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const port = status.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!host || !port) throw errors.badRequest(`node "${nodeName}" has not published its node API address`);
  let token = adminToken;
  const tokenId = node.metadata.annotations?.[TOKEN_ID_ANNOTATION];
  if (tokenId) {
    const secret = (await registry.get(SECRET, 'kube-system', `bootstrap-token-${tokenId}`).catch(() => undefined)) as KubeObject | undefined;
    const data = (secret?.data ?? {}) as Record<string, string>;
    if (data['token-secret']) token = `${tokenId}.${Buffer.from(data['token-secret'], 'base64').toString()}`;
  }
  return { host, port, token };
}

function nodePath(pod: Pod, action: 'log' | 'exec', query: string): string {
  return `/pods/${encodeURIComponent(pod.metadata.namespace!)}/${encodeURIComponent(pod.metadata.name!)}/${action}${query ? `?${query}` : ''}`;
}

/** GET the pod's log from its node; resolves with a streaming Response. */
export async function relayLog(registry: Registry, namespace: string, name: string, query: URLSearchParams, adminToken: string, signal: AbortSignal): Promise<Response> {
  const pod = (await registry.get(POD, namespace, name)) as Pod;
  const target = await nodeTargetFor(registry, pod, adminToken);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpsRequest(
      {
        host: target.host,
        port: target.port,
        path: nodePath(pod, 'log', query.toString()),
        headers: { Authorization: `Bearer ${target.token}` },
        // Node API certificates are self-signed per node (kube-apiserver's default towards kubelets).
        rejectUnauthorized: false,
        signal,
      },
      resolve,
    );
    req.on('error', (e) => reject(errors.internal(`cannot reach node "${pod.spec.nodeName}" at ${target.host}:${target.port}: ${e.message}`, e)));
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
export async function relayExecUpgrade(registry: Registry, req: IncomingMessage, socket: Duplex, head: Buffer, pod: Pod, adminToken: string): Promise<void> {
  const target = await nodeTargetFor(registry, pod, adminToken);
  const url = new URL(req.url ?? '/', 'https://control');
  const upstream = tlsConnect({ host: target.host, port: target.port, rejectUnauthorized: false });
  upstream.on('error', () => socket.destroy());
  socket.on('error', () => upstream.destroy());
  await new Promise<void>((resolve, reject) => {
    upstream.once('secureConnect', resolve);
    upstream.once('error', reject);
  });
  const headers: string[] = [`GET ${nodePath(pod, 'exec', url.searchParams.toString())} HTTP/1.1`, `Host: ${target.host}:${target.port}`, `Authorization: Bearer ${target.token}`];
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
