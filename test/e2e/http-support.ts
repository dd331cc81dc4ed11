// One small HTTP(S) GET for the end-to-end tests: the status, the body (and its JSON when it is
// JSON), over a given agent or a fresh connection, trusting a given CA, with or without a token.
import { request as httpRequest, type Agent, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface Reply {
  status: number;
  body: string;
  json?: any;
}

export interface GetOptions {
  /** A keep-alive agent to reuse connections; none: a fresh connection per request. */
  agent?: Agent;
  /** The CA that signed an https server's certificate. */
  ca?: string;
  /** Sent as `Authorization: Bearer`; undefined sends no Authorization header. */
  token?: string;
  timeoutMs?: number;
}

export function get(url: string, opts: GetOptions = {}): Promise<Reply> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  const headers = opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` };
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: opts.agent ?? false, ca: opts.ca, headers }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('error', reject);
      res.on('end', () => {
        let json: any;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, json });
      });
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
