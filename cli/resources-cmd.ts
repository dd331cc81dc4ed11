// `tug apply`, `tug get`, `tug delete`: the everyday object commands, over the kubeconfig.
import YAML from 'yaml';
import { ApiClient } from '../api/client.js';
import { isApiError } from '../api/errors.js';
import type { ResourceInfo } from '../api/resources.js';
import type { KubeObject } from '../api/types.js';
import { readManifests } from './manifests.js';
import { resourceArg } from './target.js';

export interface Out {
  out(text: string): void;
  err(text: string): void;
}

interface TableColumn {
  name: string;
  priority?: number;
}

interface TableRow {
  cells: unknown[];
  object?: KubeObject;
}

interface Table {
  columnDefinitions: TableColumn[];
  rows: TableRow[];
}

const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

function display(r: ResourceInfo): string {
  return r.group ? `${r.singular}.${r.group}` : r.singular;
}

export function formatTable(table: Table, opts: { wide?: boolean; withNamespace?: boolean; prefix?: string }): string {
  const cols = table.columnDefinitions.map((c, i) => ({ c, i })).filter(({ c }) => opts.wide || !c.priority);
  const header = [...(opts.withNamespace ? ['NAMESPACE'] : []), ...cols.map(({ c }) => c.name.toUpperCase())];
  const rows = table.rows.map((row) => [
    ...(opts.withNamespace ? [String(row.object?.metadata?.namespace ?? '')] : []),
    ...cols.map(({ c, i }, k) => {
      const cell = String(row.cells[i] ?? '');
      return k === 0 && opts.prefix ? `${opts.prefix}/${cell}` : cell;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export async function getCommand(
  client: ApiClient,
  io: Out,
  args: { kinds: string; name?: string; namespace: string; allNamespaces: boolean; output?: string; selector?: string },
): Promise<number> {
  const kinds = args.kinds.split(',').map(resourceArg);
  const ns = args.allNamespaces ? undefined : args.namespace;
  const output = args.output ?? '';
  const query = args.selector ? { labelSelector: args.selector } : undefined;
  const blocks: string[] = [];
  for (const r of kinds) {
    const path = client.pathFor(r, r.namespaced ? ns : undefined, args.name);
    if (output === 'yaml' || output === 'json' || output === 'name') {
      const body = await client.request<KubeObject & { items?: KubeObject[] }>('GET', path, { query });
      if (output === 'name') {
        const items = args.name ? [body] : (body.items ?? []);
        blocks.push(items.map((o) => `${display(r)}/${o.metadata.name}`).join('\n'));
      } else {
        const doc = args.name ? body : { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: (body.items ?? []).map((o) => ({ apiVersion: body.apiVersion, kind: r.kind, ...o })) };
        blocks.push(output === 'json' ? JSON.stringify(doc, null, 4) : YAML.stringify(doc).trimEnd());
      }
      continue;
    }
    if (output && output !== 'wide') throw new Error(`unable to match a printer suitable for the output format "${output}"; allowed formats are: json, name, wide, yaml`);
    const table = await client.request<Table>('GET', path, { query, accept: TABLE_ACCEPT });
    if (!table.rows.length) continue;
    blocks.push(formatTable(table, { wide: output === 'wide', withNamespace: args.allNamespaces && r.namespaced, prefix: kinds.length > 1 ? display(r) : undefined }));
  }
  if (!blocks.length) {
    io.err(args.allNamespaces || !kinds.some((r) => r.namespaced) ? 'No resources found' : `No resources found in ${ns} namespace.`);
    return 0;
  }
  io.out(blocks.join('\n\n'));
  return 0;
}

/**
 * What an apply changed, ignoring what moves on its own: status (controllers write it between our
 * GET and PATCH) and the bookkeeping in metadata.
 */
function contentOf(o: KubeObject): string {
  const { status: _status, metadata, ...rest } = o;
  const { resourceVersion: _rv, managedFields: _mf, generation: _gen, ...meta } = metadata;
  return JSON.stringify({ ...rest, metadata: meta });
}

export async function applyCommand(
  client: ApiClient,
  io: Out,
  args: { files: string[]; namespace: string; readStdin: () => string; /** Leave objects that exist as they are (tug up's examples). */ onlyMissing?: boolean },
): Promise<number> {
  const manifests = readManifests(args.files, args.readStdin);
  let failures = 0;
  for (const m of manifests) {
    const ns = m.resource.namespaced ? (m.object.metadata.namespace ?? args.namespace) : undefined;
    const name = m.object.metadata.name;
    const label = `${display(m.resource)}/${name ?? '(generated)'}`;
    try {
      if (!name) {
        const created = await client.create(m.resource, ns, m.object);
        io.out(`${display(m.resource)}/${created.metadata.name} created`);
        continue;
      }
      const before = await client.get(m.resource, ns, name).catch((e) => {
        if (isApiError(e) && e.code === 404) return undefined;
        throw e;
      });
      if (before && args.onlyMissing) {
        io.out(`${label} exists (left as it is)`);
        continue;
      }
      const after = await client.request<KubeObject>('PATCH', client.pathFor(m.resource, ns, name), {
        body: JSON.stringify(m.object),
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: 'tug', force: 'true' },
      });
      const verb = !before ? 'created' : before.metadata.resourceVersion === after.metadata.resourceVersion || contentOf(before) === contentOf(after) ? 'unchanged' : 'configured';
      io.out(`${label} ${verb}`);
    } catch (e) {
      failures++;
      io.err(`Error from server${isApiError(e) ? ` (${e.reason})` : ''}: error when applying ${label} from "${m.source}": ${(e as Error).message}`);
    }
  }
  return failures ? 1 : 0;
}

export async function deleteCommand(
  client: ApiClient,
  io: Out,
  args: { files: string[]; kind?: string; names: string[]; namespace: string; readStdin: () => string; ignoreNotFound: boolean },
): Promise<number> {
  const targets: { r: ResourceInfo; ns?: string; name: string }[] = [];
  if (args.files.length) {
    for (const m of readManifests(args.files, args.readStdin)) {
      targets.push({ r: m.resource, ns: m.resource.namespaced ? (m.object.metadata.namespace ?? args.namespace) : undefined, name: m.object.metadata.name ?? '' });
    }
  } else {
    if (!args.kind || !args.names.length) throw new Error('say what to delete: `tug delete KIND NAME...` or `tug delete -f FILE`');
    const r = resourceArg(args.kind);
    for (const name of args.names) targets.push({ r, ns: r.namespaced ? args.namespace : undefined, name });
  }
  let failures = 0;
  for (const t of targets.reverse()) {
    try {
      await client.delete(t.r, t.ns, t.name, 'Background');
      io.out(`${display(t.r)} "${t.name}" deleted`);
    } catch (e) {
      if (isApiError(e) && e.code === 404 && args.ignoreNotFound) continue;
      failures++;
      io.err(`Error from server${isApiError(e) ? ` (${e.reason})` : ''}: ${(e as Error).message}`);
    }
  }
  return failures ? 1 : 0;
}

