// Reads and writes kubeconfig files: the one `tug control` writes for kubectl and for tugboat's
// own clients (CLI, node agent, proxy, DNS).
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import YAML from 'yaml';

export interface Connection {
  server: string; // https://host:port
  caCert?: string; // PEM
  token?: string;
  /** A client certificate and its key (PEM), instead of or beside the token. */
  clientCert?: string;
  clientKey?: string;
  insecureSkipTlsVerify?: boolean;
}

export function kubeconfigYaml(conn: Connection, name = 'tugboat'): string {
  const cluster: Record<string, unknown> = { server: conn.server };
  if (conn.caCert) cluster['certificate-authority-data'] = Buffer.from(conn.caCert).toString('base64');
  if (conn.insecureSkipTlsVerify) cluster['insecure-skip-tls-verify'] = true;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
    users: [{ name: `${name}-admin`, user: userEntry(conn) }],
    contexts: [{ name, context: { cluster: name, user: `${name}-admin`, namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  };
  return YAML.stringify(doc);
}

function userEntry(conn: Connection): Record<string, string> {
  const user: Record<string, string> = {};
  if (conn.token) user.token = conn.token;
  if (conn.clientCert) user['client-certificate-data'] = Buffer.from(conn.clientCert).toString('base64');
  if (conn.clientKey) user['client-key-data'] = Buffer.from(conn.clientKey).toString('base64');
  return user;
}

export function writeKubeconfig(file: string, conn: Connection): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, kubeconfigYaml(conn), { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Parses a kubeconfig and returns the current context's connection and namespace. */
export function readKubeconfig(file: string): Connection & { namespace: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read kubeconfig ${file}: ${(e as Error).message}; start the control node with \`tug control\` (or \`tug up\`), or pass --kubeconfig`, { cause: e });
  }
  const doc = YAML.parse(text) as any;
  const contextName = doc?.['current-context'];
  const context = (doc?.contexts ?? []).find((c: any) => c.name === contextName)?.context ?? doc?.contexts?.[0]?.context;
  if (!context) throw new Error(`kubeconfig ${file} has no context`);
  const cluster = (doc.clusters ?? []).find((c: any) => c.name === context.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`kubeconfig ${file}: cluster "${context.cluster}" has no server`);
  const user = (doc.users ?? []).find((u: any) => u.name === context.user)?.user ?? {};
  let caCert: string | undefined;
  if (cluster['certificate-authority-data']) caCert = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8');
  else if (cluster['certificate-authority']) caCert = readFileSync(cluster['certificate-authority'], 'utf8');
  const pem = (data: string | undefined, file: string | undefined) => (data ? Buffer.from(data, 'base64').toString('utf8') : file ? readFileSync(file, 'utf8') : undefined);
  return {
    server: cluster.server,
    caCert,
    token: user.token,
    clientCert: pem(user['client-certificate-data'], user['client-certificate']),
    clientKey: pem(user['client-key-data'], user['client-key']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    namespace: context.namespace ?? 'default',
  };
}
