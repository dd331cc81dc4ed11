// The CertificateSigningRequest controllers (kube-controller-manager's csrapproving and
// csrsigning): the approver approves what nodes may ask for without a person (their client
// certificate, after a SubjectAccessReview says the requester may create `nodeclient` or
// `selfnodeclient` requests; and a serving certificate for their own name and addresses), and
// the signer issues a certificate, from the cluster CA, for every approved request of the three
// signers it knows. A request it cannot honour gets a Failed condition saying why.
import { isApiError } from '../../api/errors.js';
import type { Informer } from '../../api/informer.js';
import { resourceOfKind } from '../../api/resources.js';
import { rfc3339 } from '../../api/time.js';
import type { KubeObject, Node } from '../../api/types.js';
import { parseCsr, signCertificate, type CertificateAuthority, type ParsedCsr } from '../../lib/pki.js';
import {
  conditionOf,
  durationOf,
  keyUsages,
  nodeClientProblem,
  nodeServingProblem,
  requestPem,
  SIGNER,
  specOf,
  statusOf,
  type CsrCondition,
} from '../certificates/requests.js';
import type { Controller, ControllerContext } from './manager.js';
import { WorkQueue } from './queue.js';

const CSR = resourceOfKind('CertificateSigningRequest');
const SAR = resourceOfKind('SubjectAccessReview');
/** Certificates live one year at most (kube-controller-manager's --cluster-signing-duration). */
export const MAX_CERTIFICATE_MS = 365 * 24 * 3600 * 1000;

function condition(type: string, reason: string, message: string): CsrCondition {
  const now = rfc3339(new Date());
  return { type, status: 'True', reason, message, lastUpdateTime: now, lastTransitionTime: now };
}

async function parsed(csr: KubeObject): Promise<ParsedCsr | string> {
  try {
    return await parseCsr(requestPem(csr));
  } catch (e) {
    return `spec.request: ${(e as Error).message}`;
  }
}

/** Whether the requester may create `subresource` CSRs (a SubjectAccessReview with the requester's identity). */
async function requesterMay(ctx: ControllerContext, csr: KubeObject, subresource: string): Promise<boolean> {
  const spec = specOf(csr);
  const review = await ctx.client.create<KubeObject>(SAR, undefined, {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    metadata: {},
    spec: { user: spec.username, groups: spec.groups, uid: spec.uid, extra: spec.extra, resourceAttributes: { group: 'certificates.k8s.io', resource: 'certificatesigningrequests', subresource, verb: 'create' } },
  });
  return (review.status as { allowed?: boolean } | undefined)?.allowed === true;
}

function addressesOf(node: Node | undefined): string[] {
  return ((node?.status as { addresses?: { address: string }[] } | undefined)?.addresses ?? []).map((a) => a.address);
}

/** Why the approver leaves `csr` for a person, or the approval message. */
async function autoApproval(ctx: ControllerContext, csr: KubeObject, nodes: Informer<Node>): Promise<string | undefined> {
  const spec = specOf(csr);
  const req = await parsed(csr);
  if (typeof req === 'string') return undefined;
  const usages = spec.usages ?? [];
  if (spec.signerName === SIGNER.kubeletClient) {
    const { node, problem } = nodeClientProblem(req, usages);
    if (problem) return undefined;
    const self = spec.username === `system:node:${node}`;
    if (await requesterMay(ctx, csr, self ? 'selfnodeclient' : 'nodeclient')) return `Auto approving ${self ? 'self ' : ''}kubelet client certificate after SubjectAccessReview.`;
    return undefined;
  }
  if (spec.signerName === SIGNER.kubeletServing) {
    const name = spec.username?.startsWith('system:node:') && spec.groups?.includes('system:nodes') ? spec.username.slice('system:node:'.length) : undefined;
    if (!name) return undefined;
    const node = nodes.get(undefined, name);
    if (nodeServingProblem(req, usages, name, addressesOf(node))) return undefined;
    return `Auto approving serving certificate of node "${name}" for its own name and addresses.`;
  }
  return undefined;
}

/** Why `csr` cannot be signed, or the certificate's PEM. */
async function issue(ca: CertificateAuthority, csr: KubeObject): Promise<{ certificate?: string; failure?: string }> {
  const spec = specOf(csr);
  const req = await parsed(csr);
  if (typeof req === 'string') return { failure: req };
  const usages = spec.usages ?? [];
  if (spec.signerName === SIGNER.kubeletClient && nodeClientProblem(req, usages).problem) return { failure: nodeClientProblem(req, usages).problem };
  if (spec.signerName === SIGNER.kubeletServing) {
    const name = req.commonName.slice('system:node:'.length);
    const problem = nodeServingProblem(req, usages, name, req.ips);
    if (problem) return { failure: problem };
  }
  if (spec.signerName === SIGNER.apiserverClient && (!usages.includes('client auth') || usages.includes('server auth'))) return { failure: 'a kube-apiserver-client certificate is for "client auth" only' };
  return { certificate: await signCertificate(ca, req, { usages: keyUsages(usages), durationMs: durationOf(csr, MAX_CERTIFICATE_MS) }) };
}

export function csrController(ca: CertificateAuthority): (ctx: ControllerContext) => Controller {
  return (ctx) => {
    const queue = new WorkQueue();
    const csrs = ctx.informers.of<KubeObject>('CertificateSigningRequest', { onAdd: (o) => queue.add(o.metadata.name!), onUpdate: (_a, o) => queue.add(o.metadata.name!) });
    const nodes = ctx.informers.of<Node>('Node');
    const events = ctx.events('certificate-controller');
    const write = async (csr: KubeObject, status: KubeObject['status'], subresource: 'approval' | 'status') => {
      await ctx.client.update(CSR, { ...csr, status }, subresource).catch((e) => {
        if (!isApiError(e) || (e.code !== 404 && e.code !== 409)) throw e;
      });
    };
    const reconcile = async (name: string) => {
      const csr = csrs.get(undefined, name);
      if (!csr || statusOf(csr).certificate || conditionOf(csr, 'Denied') || conditionOf(csr, 'Failed')) return;
      const known = (Object.values(SIGNER) as string[]).includes(specOf(csr).signerName ?? '');
      if (!known) return;
      const status = statusOf(csr);
      if (!conditionOf(csr, 'Approved')) {
        const message = await autoApproval(ctx, csr, nodes);
        if (message) await write(csr, { ...status, conditions: [...(status.conditions ?? []), condition('Approved', 'AutoApproved', message)] }, 'approval');
        return;
      }
      const { certificate, failure } = await issue(ca, csr);
      if (failure) {
        events.record(csr, 'Warning', 'SigningFailed', failure);
        await write(csr, { ...status, conditions: [...(status.conditions ?? []), condition('Failed', 'SignerValidationFailure', failure)] }, 'status');
        return;
      }
      await write(csr, { ...status, certificate: Buffer.from(certificate!).toString('base64') }, 'status');
    };
    return {
      name: 'certificate-controller',
      run: (signal) => queue.run(reconcile, signal, (key, e) => ctx.log(`certificate-controller: ${key}: ${(e as Error).message}`)),
    };
  };
}
