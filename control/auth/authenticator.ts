// Who is asking: bearer tokens and (later) client certificates turned into a UserInfo. The admin
// token is the cluster's superuser (system:masters); in-process components (controllers,
// scheduler) have tokens of their own that never leave control's memory; bootstrap tokens
// (kube-system Secrets) authenticate as system:bootstrap:<id> in system:bootstrappers, fit only
// to join; user tokens made by `tug token create --user` carry a name and groups for RBAC.
import { timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { resourceOfKind } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';
import type { Registry } from '../apiserver/registry.js';
import { API_AUDIENCE, type ServiceAccountTokens } from './serviceaccount-tokens.js';
import { authenticatedUser, GROUP, serviceAccountGroups, serviceAccountUsername, USER, type UserInfo } from './user.js';

const SECRET = resourceOfKind('Secret');
const SERVICE_ACCOUNT = resourceOfKind('ServiceAccount');
const POD = resourceOfKind('Pod');
export const BOOTSTRAP_TOKEN_TYPE = 'bootstrap.kubernetes.io/token';
export const USER_TOKEN_TYPE = 'tugboat.io/user-token';
/** `<id>.<secret>`: 6 and 16 characters of [a-z0-9], the bootstrap token format user tokens share. */
const TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

export function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function field(secret: KubeObject, key: string): string | undefined {
  const value = ((secret.data ?? {}) as Record<string, string>)[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString();
}

function expired(secret: KubeObject, now: Date): boolean {
  const expiration = field(secret, 'expiration');
  return !!expiration && !(Date.parse(expiration) > now.getTime());
}

/** The groups a bootstrap token adds to system:bootstrappers (`auth-extra-groups`, each system:bootstrappers:*). */
function extraBootstrapGroups(secret: KubeObject): string[] {
  return (field(secret, 'auth-extra-groups') ?? '').split(',').map((g) => g.trim()).filter((g) => g.startsWith(`${GROUP.bootstrappers}:`));
}

export interface AuthenticatorOptions {
  registry: Registry;
  adminToken: string;
  /** Tokens of in-process components and who each one is. */
  componentTokens?: Map<string, UserInfo>;
  /** Verifies ServiceAccount tokens (JWTs from the TokenRequest API). */
  serviceAccountTokens?: ServiceAccountTokens;
  now?: () => Date;
}

export class Authenticator {
  constructor(private readonly opts: AuthenticatorOptions) {}

  /**
   * The user a client certificate names (CN the user, O the groups), when the TLS handshake
   * verified it against the cluster CA; undefined otherwise.
   */
  authenticateCertificate(socket: TLSSocket | undefined): UserInfo | undefined {
    if (!socket?.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
    const subject = socket.getPeerCertificate()?.subject as { CN?: string | string[]; O?: string | string[] } | undefined;
    const cn = [subject?.CN ?? []].flat()[0];
    if (!cn) return undefined;
    return authenticatedUser(cn, [subject?.O ?? []].flat());
  }

  /** The user a request is from: its client certificate, else its bearer token (`Authorization` header value). */
  async authenticate(socket: TLSSocket | undefined, authorization: string | undefined): Promise<UserInfo | undefined> {
    const fromCertificate = this.authenticateCertificate(socket);
    if (fromCertificate) return fromCertificate;
    const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    return m ? this.authenticateToken(m[1].trim()) : undefined;
  }

  /** The user a bearer token belongs to, or undefined when it is not valid here. */
  async authenticateToken(token: string): Promise<UserInfo | undefined> {
    if (tokensEqual(token, this.opts.adminToken)) return authenticatedUser(USER.admin, [GROUP.masters]);
    for (const [t, user] of this.opts.componentTokens ?? []) if (tokensEqual(token, t)) return user;
    const m = TOKEN_PATTERN.exec(token);
    if (m) return (await this.bootstrapUser(m[1], m[2])) ?? (await this.tokenUser(m[1], m[2]));
    return this.serviceAccountUser(token, [API_AUDIENCE]);
  }

  /**
   * The ServiceAccount a token from the TokenRequest API speaks for, while it is valid for one of
   * `audiences` and its ServiceAccount (and the pod it is bound to) still exist with the same uid.
   */
  async serviceAccountUser(token: string, audiences: string[]): Promise<UserInfo | undefined> {
    const claims = this.opts.serviceAccountTokens?.verify(token, audiences, Math.floor(this.now().getTime() / 1000));
    if (!claims) return undefined;
    const sa = await this.opts.registry.get(SERVICE_ACCOUNT, claims.namespace, claims.serviceAccount.name).catch(() => undefined);
    if (!sa || sa.metadata.uid !== claims.serviceAccount.uid) return undefined;
    const extra: Record<string, string[]> = { 'authentication.kubernetes.io/credential-id': [`JTI=${claims.id}`] };
    if (claims.bound?.kind === 'Pod') {
      const pod = await this.opts.registry.get(POD, claims.namespace, claims.bound.name).catch(() => undefined);
      // A pod being deleted keeps its tokens through its grace period (deletionTimestamp is its end).
      const gone = pod?.metadata.deletionTimestamp && Date.parse(pod.metadata.deletionTimestamp) <= this.now().getTime();
      if (!pod || pod.metadata.uid !== claims.bound.uid || gone) return undefined;
      extra['authentication.kubernetes.io/pod-name'] = [claims.bound.name];
      extra['authentication.kubernetes.io/pod-uid'] = [claims.bound.uid];
      if (claims.node) extra['authentication.kubernetes.io/node-name'] = [claims.node.name];
    }
    return authenticatedUser(serviceAccountUsername(claims.namespace, claims.serviceAccount.name), serviceAccountGroups(claims.namespace), { uid: claims.serviceAccount.uid, extra });
  }

  private async secret(name: string): Promise<KubeObject | undefined> {
    return this.opts.registry.get(SECRET, 'kube-system', name).catch(() => undefined);
  }

  private async bootstrapUser(id: string, secretPart: string): Promise<UserInfo | undefined> {
    const secret = await this.secret(`bootstrap-token-${id}`);
    if (!secret || secret.type !== BOOTSTRAP_TOKEN_TYPE) return undefined;
    if (field(secret, 'usage-bootstrap-authentication') !== 'true' || expired(secret, this.now())) return undefined;
    if (!tokensEqual(field(secret, 'token-secret') ?? '', secretPart)) return undefined;
    return authenticatedUser(`system:bootstrap:${id}`, [GROUP.bootstrappers, ...extraBootstrapGroups(secret)]);
  }

  private async tokenUser(id: string, secretPart: string): Promise<UserInfo | undefined> {
    const secret = await this.secret(`user-token-${id}`);
    if (!secret || secret.type !== USER_TOKEN_TYPE || expired(secret, this.now())) return undefined;
    if (!tokensEqual(field(secret, 'token-secret') ?? '', secretPart)) return undefined;
    const username = field(secret, 'username');
    if (!username) return undefined;
    // A token cannot make anyone a superuser or a node: those come from the admin token and node certificates.
    const groups = (field(secret, 'groups') ?? '').split(',').map((g) => g.trim()).filter((g) => g && g !== GROUP.masters && g !== GROUP.nodes);
    return authenticatedUser(username, groups, { uid: secret.metadata.uid });
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }
}
