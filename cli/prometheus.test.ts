// The files `tug control` writes for Prometheus: the shipped config pointed at the cluster's API
// address and nothing else changed, beside the token and the CA, readable by the owner only.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_API_ADDRESS, PROMETHEUS_CONFIG, prometheusConfigFor, writePrometheusFiles } from './prometheus.js';

describe('prometheusConfigFor', () => {
  const shipped = readFileSync(PROMETHEUS_CONFIG, 'utf8');

  it('keeps the shipped config for the default address', () => {
    assert.equal(prometheusConfigFor(shipped, DEFAULT_API_ADDRESS), shipped);
  });

  it('changes only the discovery URLs\' address for another one', () => {
    const other = prometheusConfigFor(shipped, '127.0.0.1:25001');
    assert.equal(other.split('https://127.0.0.1:25001/sd/prometheus?role=').length, 3, 'both jobs');
    assert.ok(!other.includes(DEFAULT_API_ADDRESS));
    assert.equal(other.replaceAll('127.0.0.1:25001', DEFAULT_API_ADDRESS), shipped);
  });

  it('fails loudly if the shipped file stops naming the default address', () => {
    assert.throws(() => prometheusConfigFor('scrape_configs: []\n', '127.0.0.1:1'), /no longer names/);
  });
});

describe('writePrometheusFiles', () => {
  it('writes token, ca.crt and prometheus.yml, owner-only', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tug-prom-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = writePrometheusFiles(join(dir, 'prometheus'), { url: 'https://127.0.0.1:25001', token: 'tok', caCert: '-----BEGIN CERTIFICATE-----\n' });
    assert.equal(config, join(dir, 'prometheus', 'prometheus.yml'));
    assert.equal(readFileSync(join(dir, 'prometheus', 'token'), 'utf8'), 'tok\n');
    assert.equal(readFileSync(join(dir, 'prometheus', 'ca.crt'), 'utf8'), '-----BEGIN CERTIFICATE-----\n');
    assert.match(readFileSync(config, 'utf8'), /url: https:\/\/127\.0\.0\.1:25001\/sd\/prometheus\?role=node/);
    for (const f of ['token', 'ca.crt', 'prometheus.yml']) assert.equal(statSync(join(dir, 'prometheus', f)).mode & 0o077, 0, f);
  });
});
