// The TLS every tugboat server speaks: 1.3, or 1.2 with forward-secret AEAD suites; a serving
// certificate for a year, reissued when a third of that is left.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { describe, it } from 'node:test';
import { certificateInfo } from './pki.js';
import { ensureTls, SERVING_CERT_MS, TLS_SERVER_OPTIONS } from './tls.js';

/** Whether a client offering only `ciphers` (at most `maxVersion`) completes a handshake, and which suite it got. */
function handshake(port: number, ca: string, opts: { maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'; ciphers?: string; minVersion?: 'TLSv1' | 'TLSv1.1' }): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...opts }, () => {
      const suite = s.getCipher().name;
      s.end();
      resolve(suite);
    });
    s.on('error', () => resolve(undefined));
  });
}

describe('TLS', () => {
  it('accepts TLS 1.3 and TLS 1.2 AEAD suites, and refuses CBC, SHA-1 and TLS 1.1', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tug-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const tls = await ensureTls(dir, ['127.0.0.1', 'localhost']);
    const server = createServer({ ...TLS_SERVER_OPTIONS, key: tls.key, cert: tls.cert }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    assert.match((await handshake(port, tls.caCert, {})) ?? '', /^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/, 'TLS 1.3');
    assert.equal(await handshake(port, tls.caCert, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), 'ECDHE-ECDSA-AES128-GCM-SHA256');
    assert.equal(await handshake(port, tls.caCert, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256' }), undefined, 'CBC with SHA-256');
    assert.equal(await handshake(port, tls.caCert, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' }), undefined, 'CBC with SHA-1');
    assert.equal(await handshake(port, tls.caCert, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }), undefined, 'TLS 1.1');
  });

  it('issues a serving certificate for a year, and keeps it while more than a third is left', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tug-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const first = await ensureTls(dir, ['127.0.0.1']);
    const info = certificateInfo(first.cert);
    const life = info.notAfter.getTime() - info.notBefore.getTime();
    assert.ok(Math.abs(life - (SERVING_CERT_MS + 3600_000)) < 60_000, `a year (and the hour it is back-dated): ${life} ms`);
    assert.equal((await ensureTls(dir, ['127.0.0.1'])).cert, first.cert, 'unchanged while fresh');
    assert.notEqual((await ensureTls(dir, ['127.0.0.1', 'tugboat.example'])).cert, first.cert, 'a new name reissues it');
  });
});
