// The mesh CA against real certificate requests: it signs exactly one workload SPIFFE ID of its
// trust domain, for a node that runs a pod as that ServiceAccount, and nothing else.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { certificateInfo, createKeyAndCsr, issuedBy } from '../../lib/pki.js';
import { MeshCa, MeshCaError } from './ca.js';

describe('the mesh CA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-mesh-ca-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ID = 'spiffe://cluster.local/ns/shop/sa/checkout';
  const runsCheckout = (ns: string, sa: string) => ns === 'shop' && sa === 'checkout';
  const rejects = async (ca: MeshCa, csr: string, status: number, message: RegExp) =>
    assert.rejects(ca.issue(csr, 'n1', runsCheckout), (e: unknown) => e instanceof MeshCaError && e.status === status && message.test(e.message));

  it('signs a request for a workload of the node: the SPIFFE ID as the only name, both usages, its lifetime', async () => {
    const ca = await MeshCa.open(join(dir, 'a'), 'cluster.local', 3600_000);
    const { keyPem, csrPem } = await createKeyAndCsr({ commonName: 'anything', uris: [ID] });
    const now = new Date();
    const issued = await ca.issue(csrPem, 'n1', runsCheckout, now);
    assert.ok(await issuedBy(issued.certificate, ca.bundle()), 'signed by the mesh CA');
    assert.equal(issued.caBundle, ca.bundle());
    assert.equal(issued.trustDomain, 'cluster.local');
    const info = certificateInfo(issued.certificate);
    assert.deepEqual(info.uris, [ID]);
    assert.deepEqual([info.dnsNames, info.ips], [[], []]);
    assert.equal(info.notAfter.getTime(), Math.floor((now.getTime() + 3600_000) / 1000) * 1000);
    assert.equal(issued.notAfter, new Date(now.getTime() + 3600_000).toISOString());
    const cert = new X509Certificate(issued.certificate);
    assert.ok(cert.checkPrivateKey(createPrivateKey(keyPem)), 'for the key the node made');
    assert.match(cert.toLegacyObject().ext_key_usage?.join(' ') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1.*1\.3\.6\.1\.5\.5\.7\.3\.2|1\.3\.6\.1\.5\.5\.7\.3\.2.*1\.3\.6\.1\.5\.5\.7\.3\.1/);
    assert.equal((await MeshCa.open(join(dir, 'a'), 'cluster.local')).bundle(), ca.bundle(), 'the same CA after a restart');
  });

  it('refuses a workload the node does not run (403) and malformed requests (400), naming what is wrong', async () => {
    const ca = await MeshCa.open(join(dir, 'b'), 'cluster.local');
    await rejects(ca, (await createKeyAndCsr({ commonName: 'x', uris: ['spiffe://cluster.local/ns/shop/sa/payments'] })).csrPem, 403, /node "n1" runs no pod as ServiceAccount "shop\/payments"/);
    await rejects(ca, (await createKeyAndCsr({ commonName: 'x', uris: [ID, 'spiffe://cluster.local/ns/shop/sa/other'] })).csrPem, 400, /only subject alternative name must be one SPIFFE ID/);
    await rejects(ca, (await createKeyAndCsr({ commonName: 'x', uris: [ID], dnsNames: ['checkout.shop'] })).csrPem, 400, /only subject alternative name/);
    await rejects(ca, (await createKeyAndCsr({ commonName: 'x' })).csrPem, 400, /only subject alternative name/);
    await rejects(ca, (await createKeyAndCsr({ commonName: 'x', uris: ['spiffe://cluster.local/checkout'] })).csrPem, 400, /is not a workload SPIFFE ID/);
    await rejects(ca, (await createKeyAndCsr({ commonName: 'x', uris: ['spiffe://other.domain/ns/shop/sa/checkout'] })).csrPem, 400, /trust domain "other\.domain" is not this cluster's \("cluster\.local"\)/);
    await rejects(ca, 'not a request', 400, /^csr: not a PEM CERTIFICATE REQUEST/);
  });
});
