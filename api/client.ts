// A small Kubernetes REST client over HTTPS with keep-alive, used by the CLI, the node agent,
// the proxy, DNS and tests. Errors come back as ApiError carrying the server's Status.
import { Agent, request as httpsRequest } from 'node:https';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ApiError, type Status } from './errors.js';
import type { Connection } from './kubeconfig.js';
import { apiVersionOf, type ResourceInfo } from './resources.js';
import type { KubeList, KubeObject, WatchEvent } from './types.js';

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
  query?: Record<string, string | number | boolean | undefined>;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
}

export interface WatchOptions extends ListOptions {
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
}

/** How long requests under way keep the connections of credentials just replaced. */
export const RETIRE_GRACE_MS = 10_000;

export class ApiClient {
  private readonly url: URL;
  private agent: Agent | HttpAgent;
  private connection: Connection;
  /** Agents of earlier credentials, until their requests have had RETIRE_GRACE_MS to finish. */
  private readonly retired = new Map<Agent | HttpAgent, NodeJS.Timeout>();

  constructor(conn: Connection) {
    this.connection = conn;
    this.url = new URL(conn.server);
    this.agent = this.makeAgent();
  }

  get conn(): Connection {
    return this.connection;
  }

  private makeAgent(): Agent | HttpAgent {
    const conn = this.connection;
    return this.url.protocol === 'https:'
      ? new Agent({ keepAlive: true, ca: conn.caCert, cert: conn.clientCert, key: conn.clientKey, rejectUnauthorized: !conn.insecureSkipTlsVerify })
      : new HttpAgent({ keepAlive: true });
  }

  /**
   * Authenticates with other credentials, or trusts other CAs, from now on (a renewed client
   * certificate, a rotated CA): new requests use them at once. Requests under way finish on the
   * old connections; RETIRE_GRACE_MS later those close, and open watches end there and their
   * informers reopen them with the new credentials.
   */
  useCredentials(credentials: Pick<Connection, 'token' | 'clientCert' | 'clientKey' | 'caCert'>): void {
    this.connection = { ...this.connection, ...credentials };
    const old = this.agent;
    this.agent = this.makeAgent();
    for (const sockets of Object.values(old.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
    const timer = setTimeout(() => {
      this.retired.delete(old);
      old.destroy();
    }, RETIRE_GRACE_MS);
    timer.unref();
    this.retired.set(old, timer);
  }

  close(): void {
    this.agent.destroy();
    for (const [agent, timer] of this.retired) {
      clearTimeout(timer);
      agent.destroy();
    }
    this.retired.clear();
  }

  /** `/api/v1/namespaces/ns/pods/name/status`, `/apis/apps/v1/deployments`, … */
  pathFor(resource: ResourceInfo, namespace?: string, name?: string, subresource?: string): string {
    let path = resource.group ? `/apis/${apiVersionOf(resource)}` : `/api/${resource.version}`;
    if (resource.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
    path += `/${resource.plural}`;
    if (name) path += `/${encodeURIComponent(name)}`;
    if (subresource) path += `/${subresource}`;
    return path;
  }

  /** Sends one request; resolves with the raw response once its headers arrive. */
  open(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') query.set(k, String(v));
    const qs = query.toString();
    const payload =
      opts.body === undefined ? undefined : typeof opts.body === 'string' || opts.body instanceof Uint8Array ? opts.body : JSON.stringify(opts.body);
    const headers: Record<string, string> = { Accept: opts.accept ?? 'application/json', 'User-Agent': 'tugboat' };
    if (this.conn.token) headers.Authorization = `Bearer ${this.conn.token}`;
    if (payload !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const attempt = (retried: boolean): Promise<IncomingMessage> => new Promise((resolve, reject) => {
      const req = send(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
          port: this.url.port,
          method,
          path: path + (qs ? `?${qs}` : ''),
          headers,
          agent: this.agent,
          signal: opts.signal,
        },
        resolve,
      );
      req.on('error', (e: NodeJS.ErrnoException) => {
        // A kept-alive connection the server closed while idle fails at once, before any answer;
        // the request never reached the server, so it goes again on a fresh connection.
        if (req.reusedSocket && !retried && !opts.signal?.aborted && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) resolve(attempt(true));
        else reject(connectionError(this.conn.server, e));
      });
      req.once('socket', guardSocket);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
    return attempt(false);
  }

  /** Sends a request and parses the JSON answer; a non-2xx answer throws ApiError. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, opts);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw errorFromResponse(status, text);
    const type = String(res.headers['content-type'] ?? '');
    return (type.includes('json') && text ? JSON.parse(text) : text) as T;
  }

  get<T extends KubeObject = KubeObject>(r: ResourceInfo, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>('GET', this.pathFor(r, namespace, name));
  }

  list<T extends KubeObject = KubeObject>(r: ResourceInfo, namespace?: string, opts: ListOptions = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', this.pathFor(r, namespace), { query: { ...opts } });
  }

  create<T extends KubeObject = KubeObject>(r: ResourceInfo, namespace: string | undefined, object: KubeObject): Promise<T> {
    return this.request<T>('POST', this.pathFor(r, namespace), { body: object });
  }

  update<T extends KubeObject = KubeObject>(r: ResourceInfo, object: KubeObject, subresource?: string): Promise<T> {
    return this.request<T>('PUT', this.pathFor(r, object.metadata.namespace, object.metadata.name, subresource), { body: object });
  }

  patch<T extends KubeObject = KubeObject>(
    r: ResourceInfo,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: 'merge' | 'strategic' | 'json' = 'merge',
    subresource?: string,
  ): Promise<T> {
    const contentType = { merge: 'application/merge-patch+json', strategic: 'application/strategic-merge-patch+json', json: 'application/json-patch+json' }[type];
    return this.request<T>('PATCH', this.pathFor(r, namespace, name, subresource), { body: patch, contentType });
  }

  delete(r: ResourceInfo, namespace: string | undefined, name: string, propagationPolicy?: string): Promise<KubeObject | Status> {
    return this.request('DELETE', this.pathFor(r, namespace, name), { body: propagationPolicy ? { propagationPolicy } : undefined });
  }

  /**
   * Streams watch events to `onEvent` until the server ends the stream, the signal aborts, or
   * the server sends an ERROR event (thrown as ApiError, e.g. 410 Gone). Resolves on a clean end.
   */
  async watch(
    r: ResourceInfo,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (event: WatchEvent) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const res = await this.open('GET', this.pathFor(r, namespace), { query: { ...opts, watch: 'true' }, signal });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw errorFromResponse(status, Buffer.concat(chunks).toString('utf8'));
    }
    let buffered = '';
    try {
      for await (const chunk of res) {
        // Only the new text can hold the next newline: a large event arrives in many chunks.
        let from = buffered.length;
        buffered += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n', from)) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          from = 0;
          if (!line) continue;
          const event = JSON.parse(line) as WatchEvent;
          if (event.type === 'ERROR') {
            const s = event.object as unknown as Status;
            throw new ApiError(s.code ?? 500, s.reason ?? 'InternalError', s.message ?? 'watch error');
          }
          onEvent(event);
        }
      }
    } catch (e) {
      if (signal?.aborted) return;
      throw e;
    }
  }
}

const guarded = new WeakSet<Socket>();

/**
 * Gives a (keep-alive) socket a lasting 'error' listener. When the server answers before reading
 * the whole body (413) and closes, the late EPIPE can arrive while no request owns the socket,
 * and an unheard 'error' would crash the process. A request that owns it still gets the error.
 */
function guardSocket(socket: Socket): void {
  if (guarded.has(socket)) return;
  guarded.add(socket);
  socket.on('error', () => undefined);
}

function connectionError(server: string, e: Error & { code?: string }): Error {
  if (e.name === 'AbortError') return e;
  const hint =
    e.code === 'ECONNREFUSED'
      ? `nothing is listening at ${server}; is \`tug control\` running?`
      : e.code?.startsWith('ERR_TLS') || e.code?.includes('CERT')
        ? `the server's certificate is not trusted by the kubeconfig's CA (${e.code})`
        : e.message;
  return new Error(`cannot reach the API server at ${server}: ${hint}`, { cause: e });
}

function errorFromResponse(status: number, text: string): ApiError {
  try {
    const s = JSON.parse(text) as Status;
    if (s.kind === 'Status') return new ApiError(s.code ?? status, s.reason ?? 'Unknown', s.message ?? text, s.details);
  } catch {
    // not a Status: fall through to a generic error carrying the body
  }
  return new ApiError(status, 'Unknown', `the server answered ${status}: ${text.slice(0, 500)}`);
}
