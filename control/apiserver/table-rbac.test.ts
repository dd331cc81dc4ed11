// `kubectl get roles,rolebindings,serviceaccounts` columns, as upstream prints them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resourceOfKind } from '../../api/resources.js';
import { toTable } from './table.js';

const NOW = new Date('2026-01-02T00:00:00Z');
const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}), creationTimestamp: '2026-01-01T23:00:00Z' });

describe('RBAC and ServiceAccount tables', () => {
  it('prints a binding\'s role, and with -o wide its users, groups and ServiceAccounts', () => {
    const binding = {
      metadata: meta('devs', 'dev'),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [
        { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'jane' },
        { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'ops' },
        { kind: 'ServiceAccount', name: 'bot' },
        { kind: 'ServiceAccount', name: 'ci', namespace: 'tools' },
      ],
    };
    const t = toTable(resourceOfKind('RoleBinding'), [binding], { now: NOW });
    assert.deepEqual(t.columnDefinitions.map((c) => `${c.name}${c.priority ? '*' : ''}`), ['Name', 'Role', 'Age', 'Users*', 'Groups*', 'ServiceAccounts*']);
    assert.deepEqual(t.rows[0].cells, ['devs', 'ClusterRole/edit', '60m', 'jane', 'ops', 'dev/bot, tools/ci']);
  });

  it('prints a role\'s creation time and a ServiceAccount\'s Secrets', () => {
    assert.deepEqual(toTable(resourceOfKind('ClusterRole'), [{ metadata: meta('view') }], { now: NOW }).rows[0].cells, ['view', '2026-01-01T23:00:00Z']);
    const sa = toTable(resourceOfKind('ServiceAccount'), [{ metadata: meta('default', 'dev') }], { now: NOW });
    assert.deepEqual(sa.rows[0].cells, ['default', 0, '60m']);
  });
});
