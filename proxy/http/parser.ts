// Strict HTTP/1.1 message heads and body framing (RFC 9112) for the proxy's HTTP mode. The
// proxy passes bytes through and only needs to know where each message ends, so this parser
// reads heads and tracks body boundaries; it refuses everything two parsers could read
// differently (CL with TE, differing CLs, bare LF, obs-fold, ...) so nothing can be smuggled
// past the proxy to an upstream.

/** How a message body is delimited. */
export type Framing =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Response only: the body runs until the upstream closes. */
  | { kind: 'close' };

export interface MessageHead {
  /** Header field names as received, their lowercased twins, and trimmed values, in order. */
  names: string[];
  lower: string[];
  values: string[];
  /** Lowercased options of every Connection field. */
  connection: string[];
  /** HTTP/1.x minor version. */
  minor: 0 | 1;
}

export interface RequestHead extends MessageHead {
  method: string;
  target: string;
  framing: Framing;
  /** The client wants the connection kept open after this exchange. */
  keepAlive: boolean;
  /** Upgrade (websocket) requested: `Upgrade` field and `Connection: upgrade`. */
  upgrade: boolean;
}

export interface ResponseHead extends MessageHead {
  status: number;
  /** Status line text after the code, as received (may be empty). */
  reason: string;
}

/** A head that cannot be accepted: answered with `status` (400, 431, 505; 502 for responses). */
export interface HeadError {
  status: number;
  reason: string;
}

/** `undefined`: need more bytes. */
export type HeadResult<T> = { head: T; end: number } | HeadError | undefined;

export function isHeadError<T>(r: HeadResult<T>): r is HeadError {
  return r !== undefined && 'status' in r;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\x00-\x20\x7f]+) HTTP\/1\.([01])$/;
const ANY_VERSION = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^\x00-\x20\x7f]+ HTTP\/[0-9]\.[0-9]$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9][0-9][0-9])(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
// A field value holds no CR, LF, NUL or other controls but HTAB (RFC 9110 §5.5).
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const DIGITS = /^[0-9]{1,15}$/;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const MAX_FIELDS = 256;

function error(status: number, reason: string): HeadError {
  return { status, reason };
}

/**
 * Finds the head in `buf`: its text (without the final empty line), where it started and
 * where the message after it begins. Leading empty lines are skipped, as RFC 9112 §2.2 allows.
 */
function splitHead(buf: Buffer, limit: number): { lines: string[]; end: number } | HeadError | undefined {
  let start = 0;
  while (buf[start] === 13 && buf[start + 1] === 10) start += 2;
  if (start > 64) return error(400, 'too many empty lines before the request');
  if (buf[start] === 10) return error(400, 'bare LF in message head');
  const end = buf.indexOf(HEAD_END, start);
  if (end < 0) {
    if (buf.length - start > limit) return error(431, 'message head too large');
    // A head ended by bare LFs would never match CRLFCRLF: refuse it now instead of waiting.
    for (let i = buf.indexOf(10, start); i >= 0; i = buf.indexOf(10, i + 1)) {
      if (buf[i - 1] !== 13) return error(400, 'bare LF in message head');
    }
    return undefined;
  }
  if (end + 4 - start > limit) return error(431, 'message head too large');
  return { lines: buf.toString('latin1', start, end).split('\r\n'), end: end + 4 };
}

/** Reads the field lines (lines[1..]) into `head`; an error names the first bad line. */
function parseFields(lines: string[], head: MessageHead): HeadError | undefined {
  if (lines.length - 1 > MAX_FIELDS) return error(431, 'too many header fields');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    // Checked piecewise (no regex captures): this runs for every field of every message.
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) {
      const c = line.charCodeAt(0);
      if (c === 32 || c === 9) return error(400, 'obsolete line folding in header field');
      if (line.includes('\n') || line.includes('\r')) return error(400, 'bare CR or LF in message head');
      return error(400, `invalid header field line ${i}`);
    }
    let a = colon + 1;
    let b = line.length;
    while (a < b && (line.charCodeAt(a) === 32 || line.charCodeAt(a) === 9)) a++;
    while (b > a && (line.charCodeAt(b - 1) === 32 || line.charCodeAt(b - 1) === 9)) b--;
    const value = line.slice(a, b);
    if (BAD_VALUE.test(value)) {
      if (value.includes('\n') || value.includes('\r')) return error(400, 'bare CR or LF in message head');
      return error(400, `invalid header field value on line ${i}`);
    }
    const name = line.slice(0, colon);
    const lower = name.toLowerCase();
    head.names.push(name);
    head.lower.push(lower);
    head.values.push(value);
    if (lower === 'connection') {
      for (const option of value.split(',')) {
        const o = option.trim().toLowerCase();
        if (o === '') continue;
        if (!TOKEN.test(o)) return error(400, 'invalid Connection option');
        head.connection.push(o);
      }
    }
  }
  return undefined;
}

/** Content-Length values (each may be a list, RFC 9110 §8.6): all must be the same number. */
function contentLength(head: MessageHead): number | undefined | HeadError {
  let length: number | undefined;
  for (let i = 0; i < head.lower.length; i++) {
    if (head.lower[i] !== 'content-length') continue;
    for (const part of head.values[i].split(',')) {
      const v = part.trim();
      if (!DIGITS.test(v)) return error(400, 'invalid Content-Length');
      const n = Number(v);
      if (length !== undefined && n !== length) return error(400, 'differing Content-Length values');
      length = n;
    }
  }
  return length;
}

/** Transfer codings of every Transfer-Encoding field in order, or undefined when there is none. */
function transferCodings(head: MessageHead): string[] | undefined | HeadError {
  let codings: string[] | undefined;
  for (let i = 0; i < head.lower.length; i++) {
    if (head.lower[i] !== 'transfer-encoding') continue;
    codings ??= [];
    for (const part of head.values[i].split(',')) {
      const c = part.trim().toLowerCase();
      if (!TOKEN.test(c)) return error(400, 'invalid Transfer-Encoding');
      codings.push(c);
    }
  }
  return codings;
}

/** `chunked` exactly once and last: the only request body framing by transfer coding. */
function chunkedLast(codings: string[]): boolean {
  return codings.indexOf('chunked') === codings.length - 1;
}

function emptyHead(minor: 0 | 1): MessageHead {
  return { names: [], lower: [], values: [], connection: [], minor };
}

/** Parses a request head at the start of `buf` (at most `limit` bytes). */
export function parseRequestHead(buf: Buffer, limit: number): HeadResult<RequestHead> {
  const split = splitHead(buf, limit);
  if (split === undefined || 'status' in split) return split;
  const { lines, end } = split;
  const m = REQUEST_LINE.exec(lines[0]);
  if (m === null) {
    if (ANY_VERSION.test(lines[0])) return error(505, 'HTTP version not supported');
    return error(400, 'invalid request line');
  }
  const minor = m[3] === '1' ? 1 : 0;
  const head = emptyHead(minor);
  const bad = parseFields(lines, head);
  if (bad) return bad;

  let hosts = 0;
  let upgradeField = false;
  for (const name of head.lower) {
    if (name === 'host') hosts++;
    else if (name === 'upgrade') upgradeField = true;
  }
  if (hosts > 1 || (minor === 1 && hosts === 0)) return error(400, 'a request needs exactly one Host field');

  const length = contentLength(head);
  if (typeof length === 'object') return length;
  const codings = transferCodings(head);
  if (codings !== undefined && 'status' in codings) return codings;
  let framing: Framing;
  if (codings !== undefined) {
    if (length !== undefined) return error(400, 'both Content-Length and Transfer-Encoding');
    if (minor === 0) return error(400, 'Transfer-Encoding in an HTTP/1.0 request');
    if (!chunkedLast(codings)) return error(400, 'Transfer-Encoding must end with chunked');
    framing = { kind: 'chunked' };
  } else if (length !== undefined && length > 0) {
    framing = { kind: 'length', length };
  } else {
    framing = { kind: 'none' };
  }

  const close = head.connection.includes('close');
  const keepAlive = minor === 1 ? !close : !close && head.connection.includes('keep-alive');
  const upgrade = upgradeField && minor === 1 && head.connection.includes('upgrade');
  const request: RequestHead = Object.assign(head, { method: m[1], target: m[2], framing, keepAlive, upgrade });
  return { head: request, end };
}

/** Parses a response head at the start of `buf`; errors carry 502 (the upstream is at fault). */
export function parseResponseHead(buf: Buffer, limit: number): HeadResult<ResponseHead> {
  const split = splitHead(buf, limit);
  if (split === undefined) return undefined;
  if ('status' in split) return error(502, `upstream sent a bad response: ${split.reason}`);
  const m = STATUS_LINE.exec(split.lines[0]);
  if (m === null) return error(502, 'upstream sent a bad status line');
  const head = emptyHead(m[1] === '1' ? 1 : 0);
  const bad = parseFields(split.lines, head);
  if (bad) return error(502, `upstream sent a bad response: ${bad.reason}`);
  const response: ResponseHead = Object.assign(head, { status: Number(m[2]), reason: m[3] ?? '' });
  return { head: response, end: split.end };
}

/** The body framing of a response to `method` (RFC 9112 §6.3). */
export function responseFraming(head: ResponseHead, method: string): Framing | HeadError {
  if (method === 'HEAD' || head.status < 200 || head.status === 204 || head.status === 304) return { kind: 'none' };
  const length = contentLength(head);
  if (typeof length === 'object') return error(502, `upstream sent a bad response: ${length.reason}`);
  const codings = transferCodings(head);
  if (codings !== undefined && 'status' in codings) return error(502, `upstream sent a bad response: ${codings.reason}`);
  if (codings !== undefined) {
    if (length !== undefined) return error(502, 'upstream sent both Content-Length and Transfer-Encoding');
    return chunkedLast(codings) ? { kind: 'chunked' } : { kind: 'close' };
  }
  if (length !== undefined) return length > 0 ? { kind: 'length', length } : { kind: 'none' };
  return { kind: 'close' };
}

/** Whether the upstream lets its connection be reused after this response. */
export function responseKeepAlive(head: ResponseHead): boolean {
  if (head.connection.includes('close')) return false;
  return head.minor === 1 || head.connection.includes('keep-alive');
}

// Chunked body scanner states.
const SIZE_START = 0;
const SIZE = 1;
const EXT = 2;
const SIZE_LF = 3;
const DATA = 4;
const DATA_CR = 5;
const DATA_LF = 6;
const TRAILER_START = 7;
const TRAILER_LINE = 8;
const TRAILER_LF = 9;
const END_LF = 10;
const DONE = 11;
const FAILED = 12;

/** Bytes of chunk extensions and trailers a body may carry in total. */
const MAX_CHUNK_META = 16 * 1024;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Follows a chunked body as it streams past (RFC 9112 §7.1) without decoding it, to find
 * where it ends. Strict: hex sizes of at most 12 digits, CRLF everywhere, bounded extensions
 * and trailers.
 */
export class ChunkedScanner {
  private state = SIZE_START;
  private size = 0;
  private digits = 0;
  private meta = 0;

  get done(): boolean {
    return this.state === DONE;
  }

  get failed(): boolean {
    return this.state === FAILED;
  }

  /**
   * Consumes `buf` from `start`; returns the index just past the body's last byte when the
   * body ends inside `buf`, else `buf.length`. Check `failed` after each call.
   */
  scan(buf: Buffer, start: number): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      const state = this.state;
      if (state === DATA) {
        const take = Math.min(this.size, n - i);
        i += take;
        this.size -= take;
        if (this.size === 0) this.state = DATA_CR;
        continue;
      }
      const c = buf[i++];
      switch (state) {
        case SIZE_START:
        case SIZE: {
          const h = hexValue(c);
          if (h >= 0) {
            if (++this.digits > 12) return this.fail(n);
            this.size = this.size * 16 + h;
            this.state = SIZE;
          } else if (state === SIZE && c === 13) {
            this.state = SIZE_LF;
          } else if (state === SIZE && (c === 59 || c === 32 || c === 9)) {
            this.state = EXT;
          } else {
            return this.fail(n);
          }
          break;
        }
        case EXT:
          if (c === 13) this.state = SIZE_LF;
          else if ((c < 32 && c !== 9) || c === 127 || ++this.meta > MAX_CHUNK_META) return this.fail(n);
          break;
        case SIZE_LF:
          if (c !== 10) return this.fail(n);
          this.digits = 0;
          this.state = this.size === 0 ? TRAILER_START : DATA;
          break;
        case DATA_CR:
          if (c !== 13) return this.fail(n);
          this.state = DATA_LF;
          break;
        case DATA_LF:
          if (c !== 10) return this.fail(n);
          this.state = SIZE_START;
          break;
        case TRAILER_START:
          if (c === 13) this.state = END_LF;
          else if (c === 32 || c === 9 || c < 32 || c === 127) return this.fail(n);
          else this.state = TRAILER_LINE;
          break;
        case TRAILER_LINE:
          if (c === 13) this.state = TRAILER_LF;
          else if ((c < 32 && c !== 9) || c === 127 || ++this.meta > MAX_CHUNK_META) return this.fail(n);
          break;
        case TRAILER_LF:
          if (c !== 10) return this.fail(n);
          this.state = TRAILER_START;
          break;
        case END_LF:
          if (c !== 10) return this.fail(n);
          this.state = DONE;
          return i;
        default:
          return n;
      }
    }
    return n;
  }

  private fail(n: number): number {
    this.state = FAILED;
    return n;
  }
}
