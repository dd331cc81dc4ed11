// Turns request bodies into objects: JSON, YAML and Kubernetes protobuf, each with an error that
// says where the problem is.
import YAML from 'yaml';
import { errors, isApiError } from '../../api/errors.js';
import { decodeKubeProtobuf } from './protobuf.js';

export const BODY_LIMIT_BYTES = 3 * 1024 * 1024;

export const PATCH_TYPES = {
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/json-patch+json': 'json',
  'application/apply-patch+yaml': 'apply',
} as const;

export type PatchType = (typeof PATCH_TYPES)[keyof typeof PATCH_TYPES];

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
}

export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = mediaType(contentType);
  const patchType = PATCH_TYPES[type as keyof typeof PATCH_TYPES];
  if (!patchType) throw errors.unsupportedMediaType(type, Object.keys(PATCH_TYPES));
  return patchType;
}

/**
 * Deeper than any real object, and shallow enough that the recursive code after decoding
 * (structuredClone, validation, JSON.stringify) cannot overflow the stack on it.
 */
const MAX_BODY_DEPTH = 512;

/** Rejects a decoded body nested deeper than MAX_BODY_DEPTH, without recursing itself. */
function checkDepth(value: unknown): unknown {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_BODY_DEPTH) throw errors.badRequest(`the request body is nested more than ${MAX_BODY_DEPTH} levels deep; no Kubernetes object is`);
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return value;
}

function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
  }
  return checkDepth(value);
}

function parseYaml(text: string): unknown {
  let value: unknown;
  try {
    const docs = YAML.parseAllDocuments(text);
    const doc = Array.isArray(docs) ? docs[0] : docs;
    if (!doc) return undefined;
    if (doc.errors.length) {
      const err = doc.errors[0];
      const line = err.linePos?.[0]?.line;
      throw errors.badRequest(`the request body is not valid YAML${line ? ` (line ${line})` : ''}: ${err.message.split('\n')[0]}`);
    }
    // toJS throws on an alias bomb ("Excessive alias count") and the parser on absurd nesting.
    value = doc.toJS();
  } catch (e) {
    if (isApiError(e)) throw e;
    throw errors.badRequest(`the request body is not valid YAML: ${(e as Error).message}`);
  }
  return checkDepth(value);
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
