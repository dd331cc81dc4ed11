// The node API (kubelet's port, default 10250), over HTTPS with a certificate the cluster CA
// issued for this node: container logs and exec for the control node to relay to `kubectl logs`
// and `kubectl exec`, each caller authorized by nodeapi-auth.ts. Exec speaks the
// Kubernetes remotecommand WebSocket protocol (v5.channel.k8s.io / v4.channel.k8s.io), so the
// control node can pass kubectl's upgraded connection straight through.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { PassThrough, Writable } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { limitConnections } from '../lib/limits.js';
import { TLS_SERVER_OPTIONS } from '../lib/tls.js';
import type { CallerDecision } from './nodeapi-auth.js';
import type { LogOptions } from './runtime/types.js';

export interface ContainerAccess {
  /** Streams a container's log; throws NodeApiError for an unknown pod or container. */
  logs(namespace: string, pod: string, container: string | undefined, opts: LogOptions & { previous?: boolean }): Promise<NodeJS.ReadableStream>;
  exec(namespace: string, pod: string, container: string | undefined, command: string[], io: { stdin?: NodeJS.ReadableStream; stdout: Writable; stderr: Writable; tty: boolean; signal: AbortSignal }): Promise<number>;
}

export class NodeApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

function fail(res: ServerResponse, code: number, message: string): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  const reason = ({ 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound' } as Record<number, string>)[code] ?? 'BadRequest';
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}

function intParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  return v === null || v === '' ? undefined : Number(v);
}

/** `/pods/{ns}/{name}/{log|exec}` → its parts. */
function route(url: URL): { namespace: string; pod: string; action: string } | undefined {
  const m = /^\/pods\/([^/]+)\/([^/]+)\/(log|exec)$/.exec(url.pathname);
  return m ? { namespace: decodeURIComponent(m[1]), pod: decodeURIComponent(m[2]), action: m[3] } : undefined;
}

export interface NodeApiServer {
  port: number;
  /**
   * Serves with a renewed certificate, or checks client certificates against other CAs (a rotated
   * CA's bundle), from now on; connections already open keep what they had.
   */
  useTls(update: Partial<NodeApiOptions['tls']>): void;
  close(): Promise<void>;
}

export interface NodeApiOptions {
  host: string;
  port: number;
  /** The serving certificate and key, and the CA client certificates are checked against. */
  tls: { cert: string; key: string; caCert?: string };
  authorize: (req: IncomingMessage, verb: 'get' | 'create') => Promise<CallerDecision>;
  access: ContainerAccess;
  log: (m: string) => void;
}

export async function startNodeApi(opts: NodeApiOptions): Promise<NodeApiServer> {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => PROTOCOLS.find((p) => offered.has(p)) ?? false });
  const sockets = new Set<Duplex>();

  const tls = { ...opts.tls };
  const tlsOptions = () => ({ ...TLS_SERVER_OPTIONS, key: tls.key, cert: tls.cert, ca: tls.caCert, requestCert: true, rejectUnauthorized: false, handshakeTimeout: 10_000 });
  const server: Server = createServer(tlsOptions(), async (req, res) => {
    res.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'https://node');
    if (url.pathname === '/healthz') return void res.end('ok');
    const decision = await opts.authorize(req, 'get');
    if (!decision.allowed) return fail(res, decision.code, decision.message);
    const r = route(url);
    if (!r || r.action !== 'log' || req.method !== 'GET') return fail(res, 404, 'the server could not find the requested resource');
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    try {
      const stream = await opts.access.logs(r.namespace, r.pod, url.searchParams.get('container') ?? undefined, {
        follow: url.searchParams.get('follow') === 'true',
        previous: url.searchParams.get('previous') === 'true',
        tailLines: intParam(url, 'tailLines'),
        limitBytes: intParam(url, 'limitBytes'),
        sinceSeconds: intParam(url, 'sinceSeconds'),
        timestamps: url.searchParams.get('timestamps') === 'true',
        signal: abort.signal,
      });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    } catch (e) {
      fail(res, e instanceof NodeApiError ? e.code : 500, (e as Error).message);
    }
  });

  server.on('upgrade', (req, socket, head) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'https://node');
    const r = route(url);
    void opts.authorize(req, 'create').then((decision) => {
      if (!decision.allowed) return void socket.end(`HTTP/1.1 ${decision.code} ${decision.code === 401 ? 'Unauthorized' : 'Forbidden'}\r\nConnection: close\r\n\r\n`);
      if (!r || r.action !== 'exec') return void socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      wss.handleUpgrade(req, socket, head, (ws) => void runExec(ws, url, r.namespace, r.pod, opts.access, opts.log));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // Callers are control and the odd admin: a few connections each is plenty.
  limitConnections(server, { maxConnections: 1024, perSource: 256 });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => opts.log(`node API: ${e.message}`));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : opts.port,
    useTls(update) {
      Object.assign(tls, update);
      server.setSecureContext(tlsOptions());
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One exec session: channel 0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 resize, 255 close (v5). */
async function runExec(ws: WebSocket, url: URL, namespace: string, pod: string, access: ContainerAccess, log: (m: string) => void): Promise<void> {
  const abort = new AbortController();
  ws.on('error', () => abort.abort());
  ws.on('close', () => abort.abort());
  const wantStdin = url.searchParams.get('stdin') === 'true' || url.searchParams.get('stdin') === '1';
  const stdin = wantStdin ? new PassThrough() : undefined;
  ws.on('message', (data: Buffer) => {
    if (!data.length || !stdin) return;
    if (data[0] === 0) stdin.write(data.subarray(1));
    else if (data[0] === 255 && data[1] === 0) stdin.end();
  });
  const channel = (n: number) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([n]), chunk]), cb);
        else cb();
      },
    });
  let status: Record<string, unknown>;
  try {
    const command = url.searchParams.getAll('command');
    if (!command.length) throw new NodeApiError(400, 'you must specify at least one command for the container');
    const code = await access.exec(namespace, pod, url.searchParams.get('container') ?? undefined, command, {
      stdin,
      stdout: channel(1),
      stderr: channel(2),
      tty: url.searchParams.get('tty') === 'true',
      signal: abort.signal,
    });
    status =
      code === 0
        ? { metadata: {}, status: 'Success' }
        : {
            metadata: {},
            status: 'Failure',
            message: `command terminated with non-zero exit code: exit status ${code}`,
            reason: 'NonZeroExitCode',
            details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
          };
  } catch (e) {
    log(`exec in ${namespace}/${pod}: ${(e as Error).message}`);
    status = { metadata: {}, status: 'Failure', message: (e as Error).message, reason: 'InternalError' };
  }
  if (ws.readyState === ws.OPEN) {
    ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify(status))]), () => ws.close(1000));
  }
}
