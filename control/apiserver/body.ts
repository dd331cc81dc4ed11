// Turns request bodies into objects: JSON, YAML and Kubernetes protobuf, each with an error that
// says where the problem is.
import YAML from 'yaml';
import { errors } from '../../api/errors.js';
import { decodeKubeProtobuf } from './protobuf.js';

export const BODY_LIMIT_BYTES = 3 * 1024 * 1024;

export const PATCH_TYPES = {
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/json-patch+json': 'json',
  'application/apply-patch+yaml': 'apply',
} as const;

export type PatchType = (typeof PATCH_TYPES)[keyof typeof PATCH_TYPES];

function mediaType(contentType: string | undefined): string {
  return (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
}

export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = mediaType(contentType);
  const patchType = PATCH_TYPES[type as keyof typeof PATCH_TYPES];
  if (!patchType) throw errors.unsupportedMediaType(type, Object.keys(PATCH_TYPES));
  return patchType;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
  }
}

function parseYaml(text: string): unknown {
  const docs = YAML.parseAllDocuments(text);
  const doc = Array.isArray(docs) ? docs[0] : docs;
  if (!doc) return undefined;
  if (doc.errors.length) {
    const err = doc.errors[0];
    const line = err.linePos?.[0]?.line;
    throw errors.badRequest(`the request body is not valid YAML${line ? ` (line ${line})` : ''}: ${err.message.split('\n')[0]}`);
  }
  return doc.toJS();
}

/** Decodes an object body (create/replace). */
export function decodeObject(bytes: Uint8Array, contentType: string | undefined): unknown {
  const type = mediaType(contentType);
  if (type === 'application/vnd.kubernetes.protobuf') return decodeKubeProtobuf(bytes);
  const text = Buffer.from(bytes).toString('utf8');
  if (!text.trim()) throw errors.badRequest('the request body is empty; send the object as JSON or YAML');
  if (type === 'application/json' || type === '*/*' || type === 'text/plain') return parseJson(text);
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml') return parseYaml(text);
  throw errors.unsupportedMediaType(type, ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']);
}

/** Decodes a PATCH body by its patch type (apply-patch+yaml may be YAML or JSON). */
export function decodePatch(bytes: Uint8Array, patchType: PatchType): unknown {
  const text = Buffer.from(bytes).toString('utf8');
  if (!text.trim()) throw errors.badRequest('the patch body is empty');
  return patchType === 'apply' ? parseYaml(text) : parseJson(text);
}
