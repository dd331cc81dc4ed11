// Reading manifests for `tug apply/delete -f`: files, directories and stdin, multi-document
// YAML or JSON, with errors that name the file and line.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { resourceByKind, type ResourceInfo } from '../api/resources.js';
import type { KubeObject } from '../api/types.js';

export interface Manifest {
  source: string;
  object: KubeObject;
  resource: ResourceInfo;
}

function filesOf(path: string): string[] {
  if (path === '-') return ['-'];
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`the path "${path}" does not exist`);
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => /\.(ya?ml|json)$/i.test(f))
    .sort()
    .map((f) => join(path, f));
}

/** Parses the text of one file into objects; `List` kinds are expanded. */
export function parseManifestText(text: string, source: string): KubeObject[] {
  const docs = YAML.parseAllDocuments(text);
  const out: KubeObject[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length) {
      const err = doc.errors[0];
      const line = err.linePos?.[0]?.line;
      throw new Error(`error parsing ${source}${line ? ` (line ${line})` : ''}: ${err.message.split('\n')[0]}`);
    }
    const value = doc.toJS() as KubeObject | null;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`error parsing ${source}: a document is not an object`);
    if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) out.push(...(value.items as KubeObject[]));
    else out.push(value);
  }
  return out;
}

export function readManifests(paths: string[], readStdin: () => string): Manifest[] {
  const manifests: Manifest[] = [];
  for (const path of paths) {
    for (const file of filesOf(path)) {
      const source = file === '-' ? 'stdin' : file;
      const text = file === '-' ? readStdin() : readFileSync(file, 'utf8');
      for (const object of parseManifestText(text, source)) {
        if (!object.apiVersion || !object.kind) throw new Error(`error validating ${source}: apiVersion and kind are required in every object`);
        const resource = resourceByKind(String(object.apiVersion), String(object.kind));
        if (!resource) {
          throw new Error(`resource mapping not found for kind "${object.kind}" in version "${object.apiVersion}" in ${source}; run \`kubectl api-resources\` to list the kinds tugboat serves`);
        }
        object.metadata ??= {};
        manifests.push({ source, object, resource });
      }
    }
  }
  return manifests;
}
