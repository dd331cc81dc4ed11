// The heads the HTTP forwarder writes: the request as the upstream sees it (hop-by-hop fields
// gone, X-Forwarded-For appended, keep-alive towards the upstream), the response as the client
// sees it, and the proxy's own short answers (400, 502, 503 ...). Pure functions of the parsed
// heads.
import type { MessageHead, RequestHead, ResponseHead } from './parser.js';

/** Hop-by-hop fields (RFC 9110 §7.6.1) that never pass the proxy as received. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'http2-settings']);
/** Fields a `Connection` option may not remove: dropping them would change the message's framing. */
const PROTECTED = new Set(['content-length', 'transfer-encoding', 'host']);

/** Whether field `i` of `head` stays: not hop-by-hop, not named by a Connection option. */
function forwarded(head: MessageHead, i: number, keepUpgrade: boolean): boolean {
  const lower = head.lower[i];
  if (HOP_BY_HOP.has(lower)) {
    if (lower === 'upgrade') return keepUpgrade;
    // `TE: trailers` says the client accepts trailers, which this proxy passes through.
    if (lower === 'te') return head.values[i].toLowerCase() === 'trailers';
    return false;
  }
  return head.connection.length === 0 || PROTECTED.has(lower) || !head.connection.includes(lower);
}

/** The request head sent upstream, as a latin1 string. */
export function upstreamRequestHead(head: RequestHead, clientIP: string): string {
  let s = `${head.method} ${head.target} HTTP/1.${head.minor}\r\n`;
  const xff = head.lower.lastIndexOf('x-forwarded-for');
  for (let i = 0; i < head.lower.length; i++) {
    if (!forwarded(head, i, head.upgrade)) continue;
    if (i === xff) {
      const prior = head.values[i];
      s += `${head.names[i]}: ${prior === '' ? clientIP : `${prior}, ${clientIP}`}\r\n`;
    } else {
      s += `${head.names[i]}: ${head.values[i]}\r\n`;
    }
  }
  if (xff < 0 || !forwarded(head, xff, head.upgrade)) s += `X-Forwarded-For: ${clientIP}\r\n`;
  if (head.upgrade) s += 'Connection: upgrade\r\n';
  else if (head.minor === 0) s += 'Connection: keep-alive\r\n';
  return s + '\r\n';
}

/** What the proxy tells the client about its connection after this response. */
export type ClientConnectionField = 'close' | 'keep-alive' | undefined;

/**
 * The response head for the client, or undefined when the upstream's bytes can go out as
 * received: no hop-by-hop field to remove and nothing to add. A `Connection: keep-alive` from
 * the upstream may stay when the client's connection is kept alive too, since then it says what
 * the proxy would say itself (the common case with nginx and most servers as upstreams).
 */
export function clientResponseHead(head: ResponseHead, connection: ClientConnectionField): string | undefined {
  if (connection !== 'close') {
    let clean = true;
    let saysKeepAlive = false;
    for (let i = 0; clean && i < head.lower.length; i++) {
      if (forwarded(head, i, false)) continue;
      saysKeepAlive = head.lower[i] === 'connection' && head.values[i].toLowerCase() === 'keep-alive';
      clean = saysKeepAlive;
    }
    if (clean && (connection === undefined || saysKeepAlive)) return undefined;
  }
  let s = `HTTP/1.${head.minor} ${head.status} ${head.reason}\r\n`;
  for (let i = 0; i < head.lower.length; i++) {
    if (forwarded(head, i, false)) s += `${head.names[i]}: ${head.values[i]}\r\n`;
  }
  if (connection !== undefined) s += `Connection: ${connection}\r\n`;
  return s + '\r\n';
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** A short plain-text answer from the proxy itself. */
export function localResponse(status: number, text: string, connection: ClientConnectionField): string {
  const body = Buffer.from(`${text}\n`, 'utf8');
  let s = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n`;
  if (connection !== undefined) s += `Connection: ${connection}\r\n`;
  return s + '\r\n' + body.toString('latin1');
}
