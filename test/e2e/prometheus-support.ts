// What the Prometheus end-to-end test uses to look at a cluster: the Prometheus HTTP API, a
// node's /metrics text summed by labels, control's HTTPS API with or without the token, and raw
// HTTP for requests no well-behaved client sends.
import { connect } from 'node:net';
import { parseMetrics } from '../../api/traffic.js';
import { get, type Reply } from './http-support.js';

/** GET on Prometheus's HTTP API; rejects unless it answers status "success". */
export async function promApi(base: string, path: string, params: Record<string, string | string[]> = {}): Promise<any> {
  const url = new URL(`${base}/api/v1/${path}`);
  for (const [k, v] of Object.entries(params)) for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, one);
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; data: any; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? res.status}`);
  return body.data;
}

/** An instant query's result: its series (a scalar or string result counts as one). */
export async function promQuery(base: string, expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const data = await promApi(base, 'query', { query: expr });
  if (data.resultType === 'scalar' || data.resultType === 'string') return [{ metric: {}, value: data.result }];
  return data.result;
}

/** The single number an aggregating query returns (undefined while it has no series). */
export async function promNumber(base: string, expr: string): Promise<number | undefined> {
  const r = await promQuery(base, expr);
  return r.length ? Number(r[0].value[1]) : undefined;
}

/** A node's /metrics text. */
export async function scrape(address: string): Promise<string> {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`http://${address}/metrics: HTTP ${res.status}`);
  return res.text();
}

/** Sum of the samples of `name` whose labels include `labels`. */
export function sumOf(text: string, name: string, labels: Record<string, string> = {}): number {
  return parseMetrics(text)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

/** GET on control's HTTPS API, trusting its CA; `token` undefined sends no Authorization header. */
export const apiGet = (address: string, ca: string, path: string, token?: string): Promise<Reply> => get(`https://${address}${path}`, { ca, token });

/** GET over plain HTTP on a fresh connection (so a proxy balances each request on its own). */
export const httpGet = (host: string, port: number, path = '/'): Promise<Reply> => get(`http://${host}:${port}${path}`);

/** Writes raw bytes to host:port and returns whatever comes back before the peer closes (or 2 s pass). */
export function rawExchange(host: string, port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const s = connect({ host, port });
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    const timer = setTimeout(done, 2000);
    s.on('data', (d) => (out += d));
    s.on('error', done);
    s.on('close', done);
    s.on('connect', () => s.write(bytes));
  });
}
