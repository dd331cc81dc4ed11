// The authentication and authorization a control node runs with, started as one piece: default
// policy in place, the RBAC cache synced, the aggregation loop running; stop() ends the loop and
// the cache's watches.
import type { Registry } from '../apiserver/registry.js';
import { Authenticator } from './authenticator.js';
import { ClusterAuthorizer, type Authorizer } from './authorizer.js';
import { ensureDefaultPolicy, runAggregation } from './bootstrap.js';
import { NodeAuthorizer } from './node-authorizer.js';
import { RbacCache } from './rbac-cache.js';
import { runNamespaceDefaults, type CaPublisher } from './service-accounts.js';
import type { ServiceAccountTokens } from './serviceaccount-tokens.js';
import type { UserInfo } from './user.js';

export interface ClusterAuth {
  authenticator: Authenticator;
  authorizer: Authorizer;
  rbac: RbacCache;
  nodes: NodeAuthorizer;
  /** Issues and verifies ServiceAccount tokens; absent, the TokenRequest API is not served. */
  serviceAccountTokens?: ServiceAccountTokens;
  stop(): Promise<void>;
}

export interface ClusterAuthOptions {
  adminToken: string;
  componentTokens?: Map<string, UserInfo>;
  serviceAccountTokens?: ServiceAccountTokens;
  /** The cluster's CA bundle, published in every namespace as the kube-root-ca.crt ConfigMap. */
  caCert?: string | CaPublisher;
  log?: (message: string) => void;
}

export async function startClusterAuth(registry: Registry, opts: ClusterAuthOptions): Promise<ClusterAuth> {
  const log = opts.log ?? ((m: string) => console.error(`tug control: ${m}`));
  await ensureDefaultPolicy(registry);
  const rbac = new RbacCache(registry);
  await rbac.start();
  const nodes = new NodeAuthorizer(registry);
  await nodes.start();
  const abort = new AbortController();
  const ca = typeof opts.caCert === 'string' ? constantCa(opts.caCert) : opts.caCert;
  const loops = [runAggregation(registry, rbac, abort.signal, log), ...(ca ? [runNamespaceDefaults(registry, ca, abort.signal, log)] : [])];
  return {
    authenticator: new Authenticator({ registry, adminToken: opts.adminToken, componentTokens: opts.componentTokens, serviceAccountTokens: opts.serviceAccountTokens }),
    serviceAccountTokens: opts.serviceAccountTokens,
    authorizer: new ClusterAuthorizer(rbac, nodes),
    rbac,
    nodes,
    async stop() {
      abort.abort();
      await Promise.all(loops);
      rbac.stop();
      nodes.stop();
    },
  };
}

function constantCa(pem: string): CaPublisher {
  return { bundle: () => pem, onChange: () => undefined };
}
