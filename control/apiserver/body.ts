// Turns request bodies into objects: JSON, YAML and Kubernetes protobuf, each with an error that
// says where the problem is.
import { errors } from '../../api/errors.js';
import { nextTurn } from '../../api/timers.js';
import { jsonShapeProblem, shapeProblem } from './body-shape.js';
import { decodeKubeProtobuf } from './protobuf.js';
import { parseYamlBody } from './yaml-decoder.js';

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

/** Rejects a decoded body past the bounds of body-shape.ts. */
function checkShape(value: unknown): unknown {
  const problem = shapeProblem(value);
  if (problem) throw errors.badRequest(problem);
  return value;
}

/** JSON text, its shape checked before it is parsed (the count is exact for JSON). */
function parseJson(text: string): unknown {
  const problem = jsonShapeProblem(text);
  if (problem) throw errors.badRequest(problem);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
  }
}

async function parseYaml(text: string): Promise<unknown> {
  return checkShape(await parseYamlBody(text));
}

/**
 * A body past this many bytes is large: its decoding, checks and storage each take milliseconds,
 * so the event loop gets a turn between them (other requests are answered in between).
 */
export const LARGE_BODY_BYTES = 64 * 1024;

/** Decodes an object body (create/replace); large YAML is parsed off the event loop. */
export async function decodeObject(bytes: Uint8Array, contentType: string | undefined): Promise<unknown> {
  const value = await decodeObjectNow(bytes, contentType);
  if (bytes.length > LARGE_BODY_BYTES) await nextTurn();
  return value;
}

async function decodeObjectNow(bytes: Uint8Array, contentType: string | undefined): Promise<unknown> {
  const type = mediaType(contentType);
  if (type === 'application/vnd.kubernetes.protobuf') return checkShape(decodeKubeProtobuf(bytes));
  const text = Buffer.from(bytes).toString('utf8');
  if (!text.trim()) throw errors.badRequest('the request body is empty; send the object as JSON or YAML');
  if (type === 'application/json' || type === '*/*' || type === 'text/plain') return parseJson(text);
  if (type === 'application/yaml' || type === 'application/x-yaml' || type === 'text/yaml') return parseYaml(text);
  throw errors.unsupportedMediaType(type, ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']);
}

/** Decodes a PATCH body by its patch type (apply-patch+yaml may be YAML or JSON). */
export async function decodePatch(bytes: Uint8Array, patchType: PatchType): Promise<unknown> {
  const text = Buffer.from(bytes).toString('utf8');
  if (!text.trim()) throw errors.badRequest('the patch body is empty');
  const value = patchType === 'apply' ? await parseYaml(text) : parseJson(text);
  if (bytes.length > LARGE_BODY_BYTES) await nextTurn();
  return value;
}
