// Role, ClusterRole, RoleBinding, ClusterRoleBinding, ServiceAccount and CertificateSigningRequest
// rows, as the upstream printers print them: roles with their creation time, bindings with their
// role and (wide) who they bind, ServiceAccounts with their token Secrets, requests with their
// signer, requester and condition.
import { humanDuration } from '../../api/duration.js';
import type { KubeObject } from '../../api/types.js';
import { type KindPrinter, ageColumn, ageOf, column, nameColumn, nameOf } from './table-common.js';

interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

export const rolePrinter: KindPrinter = {
  columns: [nameColumn(), column('Created At', 'CreationTimestamp is the server time when this object was created.', { type: 'date' })],
  row: (obj: KubeObject) => ({ cells: [nameOf(obj), obj.metadata.creationTimestamp ?? ''] }),
};

function subjects(obj: KubeObject, kind: string): string {
  const list = Array.isArray(obj.subjects) ? (obj.subjects as Subject[]) : [];
  return list
    .filter((s) => s.kind === kind)
    .map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? obj.metadata.namespace ?? ''}/${s.name}` : (s.name ?? '')))
    .join(', ');
}

export const bindingPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Role', 'Role references the role being bound.'),
    ageColumn(),
    column('Users', 'Users in the binding.', { priority: 1 }),
    column('Groups', 'Groups in the binding.', { priority: 1 }),
    column('ServiceAccounts', 'ServiceAccounts in the binding.', { priority: 1 }),
  ],
  row(obj: KubeObject, now: Date) {
    const ref = (obj.roleRef ?? {}) as { kind?: string; name?: string };
    return { cells: [nameOf(obj), `${ref.kind ?? ''}/${ref.name ?? ''}`, ageOf(obj, now), subjects(obj, 'User'), subjects(obj, 'Group'), subjects(obj, 'ServiceAccount')] };
  },
};

export const serviceAccountPrinter: KindPrinter = {
  columns: [nameColumn(), column('Secrets', 'Secrets is the list of secrets allowed to be used by pods running using this ServiceAccount.', { type: 'integer' }), ageColumn()],
  row: (obj: KubeObject, now: Date) => ({ cells: [nameOf(obj), Array.isArray(obj.secrets) ? obj.secrets.length : 0, ageOf(obj, now)] }),
};

/** `Approved,Issued`, `Denied`, `Pending`: the CONDITION column of `kubectl get csr`. */
function csrCondition(obj: KubeObject): string {
  const status = (obj.status ?? {}) as { conditions?: { type?: string; status?: string }[]; certificate?: string };
  const shown = (status.conditions ?? []).filter((c) => c.status === 'True').map((c) => c.type ?? '');
  if (status.certificate) shown.push('Issued');
  return shown.length ? shown.join(',') : 'Pending';
}

export const certificateSigningRequestPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    ageColumn(),
    column('SignerName', 'The signer the request is for.'),
    column('Requestor', 'The user who created the request.'),
    column('RequestedDuration', 'The lifetime the request asks for.'),
    column('Condition', 'Approved, Denied, Failed, Issued or Pending.'),
  ],
  row(obj: KubeObject, now: Date) {
    const spec = (obj.spec ?? {}) as { signerName?: string; username?: string; expirationSeconds?: number };
    const requested = typeof spec.expirationSeconds === 'number' ? humanDuration(spec.expirationSeconds * 1000) : '<none>';
    return { cells: [nameOf(obj), ageOf(obj, now), spec.signerName ?? '', spec.username ?? '', requested, csrCondition(obj)] };
  },
};
