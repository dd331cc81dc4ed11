// ServiceAccount tokens, as Kubernetes' TokenRequest API makes them: JWTs (ES256) signed with a
// key control keeps in its data dir, naming the ServiceAccount (and the pod they are bound to),
// with an audience and an expiry. Verifying one checks the signature, the times, the issuer and
// the audience; that the ServiceAccount and the bound pod still exist is the authenticator's part.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** The audience tokens for the API itself carry (Kubernetes' default: the issuer). */
export const API_AUDIENCE = ISSUER;

export interface BoundObject {
  kind: 'Pod' | 'Secret' | 'Node';
  name: string;
  uid: string;
}

export interface TokenClaims {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  bound?: BoundObject;
  /** The node the bound pod runs on, when bound to a pod. */
  node?: { name: string; uid?: string };
  audiences: string[];
  issuedAt: number;
  expiresAt: number;
  id: string;
}

interface Payload {
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  iss: string;
  jti: string;
  sub: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    secret?: { name: string; uid: string };
    node?: { name: string; uid?: string };
  };
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');
/** Seconds of clock difference tolerated between who issues and who presents a token. */
const LEEWAY_S = 60;

export class ServiceAccountTokens {
  private readonly keyId: string;

  private constructor(
    private readonly privateKey: KeyObject,
    private readonly publicKey: KeyObject,
  ) {
    this.keyId = b64url(createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest());
  }

  /** A key that lives only in this process (tests). */
  static ephemeral(): ServiceAccountTokens {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return new ServiceAccountTokens(privateKey, publicKey);
  }

  /** The signing key in `dir/sa.key` (made on first start, 0600). */
  static load(dir: string): ServiceAccountTokens {
    const file = join(dir, 'sa.key');
    if (!existsSync(file)) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    }
    const privateKey = createPrivateKey(readFileSync(file, 'utf8'));
    return new ServiceAccountTokens(privateKey, createPublicKey(privateKey));
  }

  issue(claims: Omit<TokenClaims, 'id'>): string {
    const sub = `system:serviceaccount:${claims.namespace}:${claims.serviceAccount.name}`;
    const k8s: Payload['kubernetes.io'] = { namespace: claims.namespace, serviceaccount: claims.serviceAccount };
    if (claims.bound?.kind === 'Pod') k8s.pod = { name: claims.bound.name, uid: claims.bound.uid };
    if (claims.bound?.kind === 'Secret') k8s.secret = { name: claims.bound.name, uid: claims.bound.uid };
    if (claims.node) k8s.node = claims.node;
    const payload: Payload = { aud: claims.audiences, exp: claims.expiresAt, iat: claims.issuedAt, nbf: claims.issuedAt, iss: ISSUER, jti: randomUUID(), sub, 'kubernetes.io': k8s };
    const signed = `${b64url(JSON.stringify({ alg: 'ES256', kid: this.keyId }))}.${b64url(JSON.stringify(payload))}`;
    const signature = sign('sha256', Buffer.from(signed), { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${signed}.${b64url(signature)}`;
  }

  /** The claims of a token this key signed that is valid at `now` (seconds) for one of `audiences`; undefined otherwise. */
  verify(token: string, audiences: string[], now: number): TokenClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    let header: { alg?: string };
    let payload: Payload;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
      payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (header?.alg !== 'ES256' || !payload || typeof payload !== 'object') return undefined;
    const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: this.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
    if (!ok || payload.iss !== ISSUER) return undefined;
    if (!(typeof payload.exp === 'number' && now < payload.exp + LEEWAY_S) || !(typeof payload.nbf === 'number' && payload.nbf <= now + LEEWAY_S)) return undefined;
    const aud = Array.isArray(payload.aud) ? payload.aud : [];
    if (!aud.some((a) => audiences.includes(a))) return undefined;
    const k8s = payload['kubernetes.io'];
    if (!k8s?.namespace || !k8s.serviceaccount?.name || !k8s.serviceaccount.uid) return undefined;
    const bound: BoundObject | undefined = k8s.pod ? { kind: 'Pod', ...k8s.pod } : k8s.secret ? { kind: 'Secret', ...k8s.secret } : undefined;
    return { namespace: k8s.namespace, serviceAccount: k8s.serviceaccount, bound, node: k8s.node, audiences: aud, issuedAt: payload.iat, expiresAt: payload.exp, id: payload.jti };
  }
}
