// The TokenRequest API (`serviceaccounts/{name}/token`, what `kubectl create token` and nodes use):
// a token for a ServiceAccount, for the audiences asked (the API by default), for at least ten
// minutes and at most two days (one hour by default), optionally bound to a pod (or Secret, or
// Node) so that it dies with it. A node may only ask for the ServiceAccount of a pod on itself,
// bound to that pod.
import { ApiError, errors } from '../../api/errors.js';
import { resourceOfKind } from '../../api/resources.js';
import { rfc3339 } from '../../api/time.js';
import type { KubeObject } from '../../api/types.js';
import type { Registry } from '../apiserver/registry.js';
import { API_AUDIENCE, type BoundObject, type ServiceAccountTokens } from './serviceaccount-tokens.js';
import { nodeNameOf, type UserInfo } from './user.js';

const SERVICE_ACCOUNT = resourceOfKind('ServiceAccount');
const KINDS = { Pod: resourceOfKind('Pod'), Secret: resourceOfKind('Secret'), Node: resourceOfKind('Node') };
export const DEFAULT_TOKEN_SECONDS = 3600;
export const MIN_TOKEN_SECONDS = 600;
export const MAX_TOKEN_SECONDS = 48 * 3600;

interface TokenRequestSpec {
  audiences?: unknown;
  expirationSeconds?: unknown;
  boundObjectRef?: { kind?: unknown; apiVersion?: unknown; name?: unknown; uid?: unknown } | null;
}

function invalid(name: string, field: string, message: string): ApiError {
  return errors.invalid('TokenRequest', name, [{ field, reason: 'FieldValueInvalid', message }], 'authentication.k8s.io');
}

function checkSpec(name: string, spec: TokenRequestSpec): { audiences: string[]; seconds: number } {
  const audiences = spec.audiences === undefined || spec.audiences === null ? [API_AUDIENCE] : spec.audiences;
  if (!Array.isArray(audiences) || audiences.some((a) => typeof a !== 'string' || !a)) throw invalid(name, 'spec.audiences', 'Invalid value: must be a list of non-empty strings');
  const asked = spec.expirationSeconds ?? DEFAULT_TOKEN_SECONDS;
  if (typeof asked !== 'number' || !Number.isInteger(asked)) throw invalid(name, 'spec.expirationSeconds', `Invalid value: ${JSON.stringify(asked)}: must be a whole number of seconds`);
  if (asked < MIN_TOKEN_SECONDS) throw invalid(name, 'spec.expirationSeconds', `Invalid value: ${asked}: may not specify a duration less than 10 minutes`);
  return { audiences: (audiences as string[]).length ? (audiences as string[]) : [API_AUDIENCE], seconds: Math.min(asked, MAX_TOKEN_SECONDS) };
}

/** The object a token is bound to, checked: it exists in the namespace, its uid matches, a pod runs as this ServiceAccount. */
async function boundObject(registry: Registry, namespace: string, sa: string, ref: TokenRequestSpec['boundObjectRef']): Promise<{ bound?: BoundObject; obj?: KubeObject }> {
  if (!ref) return {};
  const kind = ref.kind as keyof typeof KINDS;
  if (!Object.hasOwn(KINDS, kind) || (ref.apiVersion !== undefined && ref.apiVersion !== 'v1')) throw invalid(sa, 'spec.boundObjectRef.kind', `Unsupported value: ${JSON.stringify(ref.kind)}: supported values: "Pod", "Secret", "Node" (apiVersion v1)`);
  if (typeof ref.name !== 'string' || !ref.name) throw errors.invalid('TokenRequest', sa, [{ field: 'spec.boundObjectRef.name', reason: 'FieldValueRequired', message: 'Required value' }], 'authentication.k8s.io');
  const obj = await registry.get(KINDS[kind], kind === 'Node' ? undefined : namespace, ref.name);
  if (ref.uid !== undefined && ref.uid !== '' && ref.uid !== obj.metadata.uid) {
    throw errors.conflict(KINDS[kind].plural, ref.name, `the UID in the bound object reference (${String(ref.uid)}) does not match the UID in record (${obj.metadata.uid})`);
  }
  if (kind === 'Pod') {
    const runsAs = (obj.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName || 'default';
    if (runsAs !== sa) throw errors.badRequest(`cannot bind a token for serviceaccount "${sa}" to pod "${ref.name}", which runs as "${runsAs}"`);
  }
  return { bound: { kind, name: ref.name, uid: obj.metadata.uid! }, obj };
}

export interface TokenRequestContext {
  registry: Registry;
  tokens: ServiceAccountTokens;
  user: UserInfo;
  now: Date;
}

/** Answers a TokenRequest for ServiceAccount `namespace/name`. */
export async function issueServiceAccountToken(body: KubeObject, namespace: string, name: string, ctx: TokenRequestContext): Promise<KubeObject> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw errors.badRequest('the request body must be a TokenRequest object');
  const spec = (body.spec ?? {}) as TokenRequestSpec;
  const { audiences, seconds } = checkSpec(name, spec);
  const sa = await ctx.registry.get(SERVICE_ACCOUNT, namespace, name);
  const { bound, obj } = await boundObject(ctx.registry, namespace, name, spec.boundObjectRef);
  const node = nodeNameOf(ctx.user);
  const podNode = bound?.kind === 'Pod' ? (obj!.spec as { nodeName?: string } | undefined)?.nodeName : undefined;
  if (node && (bound?.kind !== 'Pod' || podNode !== node)) {
    throw new ApiError(403, 'Forbidden', `serviceaccounts "${name}" is forbidden: node "${node}" can only request tokens bound to pods running on it`, { name, kind: 'serviceaccounts' });
  }
  const issuedAt = Math.floor(ctx.now.getTime() / 1000);
  const expiresAt = issuedAt + seconds;
  const nodeClaim = podNode ? { name: podNode, uid: (await ctx.registry.get(KINDS.Node, undefined, podNode).catch(() => undefined))?.metadata.uid } : undefined;
  const token = ctx.tokens.issue({ namespace, serviceAccount: { name, uid: sa.metadata.uid! }, bound, node: nodeClaim, audiences, issuedAt, expiresAt });
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    metadata: { name, namespace, creationTimestamp: rfc3339(ctx.now) },
    spec: { audiences, expirationSeconds: seconds, boundObjectRef: spec.boundObjectRef ?? null },
    status: { token, expirationTimestamp: rfc3339(new Date(expiresAt * 1000)) },
  };
}
