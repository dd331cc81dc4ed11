// The NetworkPolicy checkpoint: a node that restarts while control is away judges proxied
// connections by the model it had, not by an empty one (which would let everything through).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ApiClient } from '../../api/client.js';
import { NetworkPolicies } from './policy.js';

describe('NetworkPolicies before the informers have listed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tug-netpol-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // Nothing listens there: the informers never list during the test.
  const client = new ApiClient({ server: 'http://127.0.0.1:9' });
  const make = (stateDir: string, logs: string[] = []) => new NetworkPolicies({ client, nodeName: 'n1', stateDir, serviceCidr: '127.77.0.0/16', nodes: () => [], log: (m) => logs.push(m) });
  const pod = (name: string, ip: string, labels: Record<string, string>) => ({ namespace: 'default', name, ip, labels, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] });
  const denyDb = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'db', namespace: 'default' }, spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'api' } } }] }] } };

  it('judges by the saved model: the allowed client passes, another is refused', () => {
    const stateDir = join(dir, 'saved');
    rmSync(stateDir, { recursive: true, force: true });
    const pods = [pod('db', '198.19.0.2', { app: 'db' }), pod('api', '198.19.0.3', { role: 'api' }), pod('web', '198.19.0.4', { app: 'web' })];
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, 'network-policy.json'), JSON.stringify({ policies: [denyDb], pods, namespaces: { default: { 'kubernetes.io/metadata.name': 'default' } } }));
    const policies = make(stateDir);
    assert.equal(policies.admits('198.19.0.3', '198.19.0.2', 8080, 'TCP'), true);
    assert.equal(policies.admits('::ffff:198.19.0.4', '198.19.0.2', 8080, 'TCP'), false);
    assert.equal(policies.admits('198.19.0.2', '198.19.0.4', 8080, 'TCP'), true, 'a pod no policy selects stays open');
  });

  it('without a checkpoint everything passes; an unreadable or foreign one is ignored and said', () => {
    assert.equal(make(join(dir, 'none')).admits('198.19.0.4', '198.19.0.2', 8080, 'TCP'), true);
    for (const [name, text] of [['garbled', '{"policies": ['], ['foreign', '{"policies": 3}']]) {
      const stateDir = join(dir, name);
      mkdirSync(stateDir, { recursive: true });
      writeFileSync(join(stateDir, 'network-policy.json'), text);
      const logs: string[] = [];
      assert.equal(make(stateDir, logs).admits('198.19.0.4', '198.19.0.2', 8080, 'TCP'), true);
      assert.match(logs.join('\n'), /network-policy\.json/);
    }
  });
});
