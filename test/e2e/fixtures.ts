// Manifests shared by the end-to-end tests: a small web app as a user would write it.
import YAML from 'yaml';

/**
 * A Namespace holding a ConfigMap `settings` (color: blue), a Secret `creds`, a Deployment `web`
 * (label app=web, containerPort 8080) and a Service `web` (port 80 named http → 8080), as one
 * multi-document YAML file.
 */
export function webAppManifest(namespace: string, opts: { replicas?: number; color?: string } = {}): string {
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace }, data: { color: opts.color ?? 'blue' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace }, stringData: { password: 's3cret' } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace, labels: { app: 'web' } },
      spec: {
        replicas: opts.replicas ?? 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'local/echo:1', ports: [{ containerPort: 8080 }] }] },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    },
  ];
  return docs.map((d) => YAML.stringify(d)).join('---\n');
}

/** A one-container Pod manifest. */
export function podManifest(name: string, labels: Record<string, string> = { app: 'x' }, namespace?: string): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels, ...(namespace ? { namespace } : {}) },
    spec: { containers: [{ name: 'main', image: 'local/busybox:1' }] },
  });
}
