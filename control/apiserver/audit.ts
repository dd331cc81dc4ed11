// The audit log, as kube-apiserver writes it with --audit-log-path and --audit-policy-file: one
// audit.k8s.io/v1 Event per request as a JSON line, at the level the first matching rule of the
// Policy gives (None, Metadata, Request, RequestResponse). What a Secret, TokenRequest or
// TokenReview carries is never written: for those, any level above Metadata stays Metadata.
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import YAML from 'yaml';
import type { Attributes } from '../auth/attributes.js';
import type { UserInfo } from '../auth/user.js';

export type AuditLevel = 'None' | 'Metadata' | 'Request' | 'RequestResponse';
const LEVELS: AuditLevel[] = ['None', 'Metadata', 'Request', 'RequestResponse'];

export interface AuditRule {
  level: AuditLevel;
  users?: string[];
  userGroups?: string[];
  verbs?: string[];
  resources?: { group?: string; resources?: string[]; resourceNames?: string[] }[];
  namespaces?: string[];
  nonResourceURLs?: string[];
}

export interface AuditPolicy {
  rules: AuditRule[];
}

/** With --audit-log-path and no policy file: every request at Metadata, the health checks not at all. */
export const DEFAULT_AUDIT_POLICY: AuditPolicy = {
  rules: [{ level: 'None', nonResourceURLs: ['/healthz', '/readyz', '/livez'] }, { level: 'Metadata' }],
};

/** Resources whose bodies carry credentials: logged at Metadata at most. */
const SENSITIVE = new Set(['secrets', 'tokenreviews', 'serviceaccounts/token', 'tokenrequests']);

export function parseAuditPolicy(text: string, file = 'the audit policy'): AuditPolicy {
  const doc = YAML.parse(text) as { apiVersion?: string; kind?: string; rules?: unknown };
  if (doc?.kind !== 'Policy' || !/^audit\.k8s\.io\/v1/.test(doc.apiVersion ?? '')) throw new Error(`${file}: must be apiVersion audit.k8s.io/v1, kind Policy`);
  if (!Array.isArray(doc.rules) || !doc.rules.length) throw new Error(`${file}: rules: at least one rule is required`);
  for (const [i, r] of (doc.rules as AuditRule[]).entries()) {
    if (!LEVELS.includes(r?.level)) throw new Error(`${file}: rules[${i}].level must be one of ${LEVELS.join(', ')}`);
  }
  return { rules: doc.rules as AuditRule[] };
}

function matchesPath(patterns: string[], path: string): boolean {
  return patterns.some((p) => p === '*' || p === path || (p.endsWith('*') && path.startsWith(p.slice(0, -1))));
}

function ruleMatches(rule: AuditRule, user: UserInfo | undefined, a: Attributes): boolean {
  if (rule.users && !rule.users.includes(user?.username ?? '')) return false;
  if (rule.userGroups && !rule.userGroups.some((g) => user?.groups.includes(g))) return false;
  if (rule.verbs && !rule.verbs.includes(a.verb)) return false;
  if (!a.resourceRequest) return !rule.resources && !rule.namespaces && (!rule.nonResourceURLs || matchesPath(rule.nonResourceURLs, a.path));
  if (rule.nonResourceURLs) return false;
  if (rule.namespaces && !rule.namespaces.includes(a.namespace)) return false;
  if (rule.resources) {
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    return rule.resources.some(
      (r) => (r.group ?? '') === a.apiGroup && (!r.resources?.length || r.resources.some((x) => x === resource || x === '*' || x === `${a.resource}/*`)) && (!r.resourceNames?.length || r.resourceNames.includes(a.name)),
    );
  }
  return true;
}

/** The level a request is audited at: the first matching rule's, capped at Metadata for credentials. */
export function auditLevel(policy: AuditPolicy, user: UserInfo | undefined, a: Attributes): AuditLevel {
  const level = policy.rules.find((r) => ruleMatches(r, user, a))?.level ?? 'None';
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (level !== 'None' && a.resourceRequest && (SENSITIVE.has(a.resource) || SENSITIVE.has(resource))) return 'Metadata';
  return level;
}

export interface AuditRecord {
  level: AuditLevel;
  attributes: Attributes;
  requestURI: string;
  user?: UserInfo;
  impersonatedUser?: UserInfo;
  sourceIP: string;
  userAgent?: string;
  code: number;
  received: Date;
  decision?: { allowed: boolean; reason?: string };
  requestObject?: unknown;
}

/** The audit.k8s.io/v1 Event for one request. */
export function auditEvent(r: AuditRecord, now = new Date()): Record<string, unknown> {
  const a = r.attributes;
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: r.level,
    auditID: randomUUID(),
    stage: 'ResponseComplete',
    requestURI: r.requestURI,
    verb: a.verb,
    user: r.user ?? { username: 'system:anonymous', groups: ['system:unauthenticated'] },
    ...(r.impersonatedUser ? { impersonatedUser: r.impersonatedUser } : {}),
    sourceIPs: [r.sourceIP],
    ...(r.userAgent ? { userAgent: r.userAgent } : {}),
    ...(a.resourceRequest
      ? { objectRef: { resource: a.resource, ...(a.namespace ? { namespace: a.namespace } : {}), ...(a.name ? { name: a.name } : {}), apiGroup: a.apiGroup, apiVersion: a.apiVersion, ...(a.subresource ? { subresource: a.subresource } : {}) } }
      : {}),
    responseStatus: { metadata: {}, code: r.code },
    ...(r.requestObject !== undefined && (r.level === 'Request' || r.level === 'RequestResponse') ? { requestObject: r.requestObject } : {}),
    requestReceivedTimestamp: r.received.toISOString(),
    stageTimestamp: now.toISOString(),
    annotations: r.decision ? { 'authorization.k8s.io/decision': r.decision.allowed ? 'allow' : 'forbid', 'authorization.k8s.io/reason': r.decision.reason ?? '' } : {},
  };
}

/** Appends audit events to a file, one JSON line each, buffered by the stream. */
export class AuditLog {
  private readonly out: WriteStream;

  constructor(
    path: string,
    readonly policy: AuditPolicy,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.out = createWriteStream(path, { flags: 'a', mode: 0o600 });
    this.out.on('error', (e) => console.error(`tug control: audit log ${path}: ${e.message}`));
  }

  static open(path: string, policyFile?: string): AuditLog {
    return new AuditLog(path, policyFile ? parseAuditPolicy(readFileSync(policyFile, 'utf8'), policyFile) : DEFAULT_AUDIT_POLICY);
  }

  write(record: AuditRecord): void {
    if (record.level === 'None') return;
    this.out.write(`${JSON.stringify(auditEvent(record))}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(() => resolve()));
  }
}
