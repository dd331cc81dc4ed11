import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedScanner, isHeadError, parseRequestHead, parseResponseHead, responseFraming, responseKeepAlive, type RequestHead, type ResponseHead } from './parser.js';
import { clientResponseHead, upstreamRequestHead } from './heads.js';

const LIMIT = 64 * 1024;

function request(text: string): RequestHead {
  const r = parseRequestHead(Buffer.from(text, 'latin1'), LIMIT);
  assert.ok(r !== undefined && !isHeadError(r), `expected a request head: ${JSON.stringify(r)}`);
  return r.head;
}

function response(text: string): ResponseHead {
  const r = parseResponseHead(Buffer.from(text, 'latin1'), LIMIT);
  assert.ok(r !== undefined && !isHeadError(r), `expected a response head: ${JSON.stringify(r)}`);
  return r.head;
}

test('request heads: framing, keep-alive, upgrade, incomplete input', () => {
  const get = request('\r\nGET /x?y=1 HTTP/1.1\r\nHost: a\r\nX-A:  spaced value \t\r\n\r\n');
  assert.equal(get.method, 'GET');
  assert.equal(get.target, '/x?y=1');
  assert.deepEqual(get.framing, { kind: 'none' });
  assert.equal(get.keepAlive, true);
  assert.equal(get.values[1], 'spaced value');
  assert.deepEqual(request('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n').framing, { kind: 'length', length: 5 });
  assert.deepEqual(request('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n').framing, { kind: 'chunked' });
  assert.equal(request('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n').keepAlive, false);
  assert.equal(request('GET / HTTP/1.0\r\n\r\n').keepAlive, false);
  assert.equal(request('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').keepAlive, true);
  assert.equal(request('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n').upgrade, true);
  assert.equal(request('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n').upgrade, false);
  assert.equal(parseRequestHead(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n'), LIMIT), undefined);
  assert.equal(parseRequestHead(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r'), LIMIT), undefined);
  const r = parseRequestHead(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT'), LIMIT);
  assert.ok(r && !isHeadError(r));
  assert.equal(r.end, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'.length);
});

test('request heads that could be read two ways are refused', () => {
  const bad = [
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n',
    'GET / HTTP/1.1\nHost: a\n\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n',
    'GET / HTTP/1.1\r\nHost : a\r\n\r\n',
  ];
  for (const text of bad) {
    const r = parseRequestHead(Buffer.from(text, 'latin1'), LIMIT);
    assert.ok(isHeadError(r) && r.status === 400, JSON.stringify(text));
  }
  // A bare-LF head is refused before it is complete (it never would be).
  const partial = parseRequestHead(Buffer.from('GET / HTTP/1.1\nHost: a\n'), LIMIT);
  assert.ok(isHeadError(partial) && partial.status === 400);
  const big = parseRequestHead(Buffer.alloc(LIMIT + 10, 'a'), LIMIT);
  assert.ok(isHeadError(big) && big.status === 431);
});

test('response framing: HEAD, 1xx/204/304, length, chunked, until close', () => {
  const ok = response('HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n');
  assert.deepEqual(responseFraming(ok, 'GET'), { kind: 'length', length: 12 });
  assert.deepEqual(responseFraming(ok, 'HEAD'), { kind: 'none' });
  for (const status of [100, 204, 304]) {
    assert.deepEqual(responseFraming(response(`HTTP/1.1 ${status} X\r\nContent-Length: 5\r\n\r\n`), 'GET'), { kind: 'none' });
  }
  assert.deepEqual(responseFraming(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), 'GET'), { kind: 'chunked' });
  assert.deepEqual(responseFraming(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'), 'GET'), { kind: 'close' });
  assert.deepEqual(responseFraming(response('HTTP/1.0 200 OK\r\n\r\n'), 'GET'), { kind: 'close' });
  assert.ok('status' in responseFraming(response('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'), 'GET'));
  assert.equal(response('HTTP/1.1 200\r\n\r\n').status, 200);
  assert.equal(responseKeepAlive(response('HTTP/1.1 200 OK\r\n\r\n')), true);
  assert.equal(responseKeepAlive(response('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n')), false);
  assert.equal(responseKeepAlive(response('HTTP/1.0 200 OK\r\n\r\n')), false);
  assert.equal(responseKeepAlive(response('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n')), true);
  const bad = parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n'), LIMIT);
  assert.ok(isHeadError(bad) && bad.status === 502);
});

test('chunked scanner finds the end of a body fed whole or byte by byte', () => {
  const body = Buffer.from('5;name=value\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT');
  const whole = new ChunkedScanner();
  assert.equal(whole.scan(body, 0), body.length - 4);
  assert.ok(whole.done);
  const bytewise = new ChunkedScanner();
  let end = -1;
  for (let i = 0; i < body.length && end < 0; i++) {
    const e = bytewise.scan(body.subarray(i, i + 1), 0);
    if (bytewise.done) end = i + e;
  }
  assert.equal(end, body.length - 4);
  for (const broken of ['x\r\n', '5\r\nhelloX', '5\nhello', '1234567890123\r\n', '0\r\n\n', '0\r\n folded\r\n\r\n', ';ext\r\n']) {
    const s = new ChunkedScanner();
    s.scan(Buffer.from(broken, 'latin1'), 0);
    assert.ok(s.failed, JSON.stringify(broken));
  }
});

test('forwarded heads: hop-by-hop fields out, X-Forwarded-For appended, Connection protected fields kept', () => {
  const head = request(
    'POST /p HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop, Content-Length\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nTE: gzip\r\nX-Forwarded-For: 1.2.3.4\r\nContent-Length: 3\r\n\r\n',
  );
  assert.equal(upstreamRequestHead(head, '127.0.0.1'), 'POST /p HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4, 127.0.0.1\r\nContent-Length: 3\r\n\r\n');
  const old = request('GET / HTTP/1.0\r\n\r\n');
  assert.equal(upstreamRequestHead(old, '127.0.0.2'), 'GET / HTTP/1.0\r\nX-Forwarded-For: 127.0.0.2\r\nConnection: keep-alive\r\n\r\n');
  const res = response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n');
  assert.equal(clientResponseHead(res, undefined), 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  assert.equal(clientResponseHead(res, 'close'), 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  assert.equal(clientResponseHead(response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), undefined), undefined);
  // A bare `Connection: keep-alive` says what the proxy would say on a kept-alive connection: the bytes pass as received.
  const nginxLike = response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n');
  assert.equal(clientResponseHead(nginxLike, undefined), undefined);
  assert.equal(clientResponseHead(nginxLike, 'keep-alive'), undefined);
  assert.equal(clientResponseHead(nginxLike, 'close'), 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  assert.equal(clientResponseHead(response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 'keep-alive'), 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n');
  const withOption = response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\n');
  assert.equal(clientResponseHead(withOption, undefined), 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
});
