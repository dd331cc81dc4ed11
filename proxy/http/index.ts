// HTTP mode of the service proxy (`appProtocol: http`): per-request balancing over pooled
// keep-alive upstream connections, with HTTP/1.1 framed by the proxy itself (node's HTTP
// client costs ~4x a raw socket pipe per request on these machines; see bench/proxy.ts).
import type { Forwarder } from '../types.js';
import { HttpForwarder, type HttpForwarderOptions } from './forwarder.js';

export type { HttpForwarderOptions } from './forwarder.js';

export function createHttpForwarder(opts: HttpForwarderOptions): Forwarder {
  return new HttpForwarder(opts);
}
