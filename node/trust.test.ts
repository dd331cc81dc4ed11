// A node's trust bundle: what it accepts from control, where it keeps it, who it tells, and which
// certificates a rotation leaves behind.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ensureSignedCertificate, loadCertificateAuthority } from '../lib/pki.js';
import { newCertificateAuthorityPem } from '../lib/tls.js';
import { bundleProblem, NodeTrust, savedTrust, TRUST_FILE } from './trust.js';

describe('a node following the cluster CA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-trust-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts only PEM CA certificates as a bundle', async () => {
    const { certPem } = await newCertificateAuthorityPem();
    assert.equal(bundleProblem(certPem), undefined);
    assert.match(bundleProblem('<html>not found</html>')!, /no PEM certificate/);
    assert.match(bundleProblem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')!, /does not parse/);
    const trust = new NodeTrust(dir, certPem);
    assert.throws(() => trust.update('garbage'), /control's trust bundle is not usable: it holds no PEM certificate/);
    assert.equal(trust.bundle(), certPem, 'a bad answer changes nothing');
  });

  it('saves a new bundle, tells its listeners, wakes sleepers, and prefers the saved bundle at the next start', async () => {
    const a = await newCertificateAuthorityPem();
    const b = await newCertificateAuthorityPem();
    const trust = new NodeTrust(dir, a.certPem);
    const heard: string[] = [];
    trust.onChange((bundle) => heard.push(bundle));
    const stop = new AbortController();
    const slept = trust.sleep(2 ** 31 - 1, stop.signal);
    assert.equal(trust.update(a.certPem), false, 'the same bundle is no change');
    const both = a.certPem + b.certPem;
    assert.equal(trust.update(both), true);
    await slept; // woken by the change, not the timer
    assert.deepEqual(heard, [both]);
    assert.equal(readFileSync(join(dir, TRUST_FILE), 'utf8'), both);
    assert.equal(savedTrust(dir, a.certPem), both);
    assert.equal(savedTrust(dir, undefined), undefined, 'a node started without a CA follows none');
    writeFileSync(join(dir, TRUST_FILE), 'truncated');
    assert.equal(savedTrust(dir, a.certPem), a.certPem, 'a damaged file is passed over');
  });

  it('calls a certificate stale when the bundle’s first CA did not sign it', async () => {
    const caDir = mkdtempSync(join(dir, 'ca-'));
    const a = await newCertificateAuthorityPem();
    const b = await newCertificateAuthorityPem();
    writeFileSync(join(caDir, 'ca.crt'), a.certPem);
    writeFileSync(join(caDir, 'ca.key'), a.keyPem);
    const ca = await loadCertificateAuthority(caDir);
    const leaf = await ensureSignedCertificate(ca, caDir, 'leaf', { commonName: 'system:node:n', organizations: ['system:nodes'], dnsNames: [], ips: [] }, ['digital signature', 'client auth'], 3600_000);
    assert.equal(await new NodeTrust(dir, a.certPem + b.certPem).stale(leaf.certPem), false);
    assert.equal(await new NodeTrust(dir, b.certPem + a.certPem).stale(leaf.certPem), true);
  });
});
