// Validation of ConfigMaps and Secrets: keys (they become file names when mounted), base64 values,
// the 1 MiB size limit, the keys that typed Secrets need, and `immutable` on update.

import { cause, checkString, checkStringMap, checkSyntax, sameValue, type Causes, type Obj } from './causes.js';
import { isConfigMapKey } from './names.js';

const MAX_BYTES = 1024 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Keys that each built-in Secret type must carry. */
const REQUIRED_SECRET_KEYS: Record<string, string[]> = {
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/dockercfg': ['.dockercfg'],
};

export function validateConfigMap(obj: Obj, old?: Obj): Causes {
  const causes: Causes = [];
  const seen = new Set<string>();
  let bytes = 0;
  for (const [k, v] of checkStringMap(causes, 'data', obj.data)) {
    checkSyntax(causes, 'data', k, isConfigMapKey);
    seen.add(k);
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  for (const [k, v] of checkStringMap(causes, 'binaryData', obj.binaryData)) {
    checkSyntax(causes, 'binaryData', k, isConfigMapKey);
    if (seen.has(k)) causes.push(cause.invalid('binaryData', k, 'duplicate of key present in data'));
    if (!BASE64.test(v)) causes.push(cause.invalid(`binaryData[${k}]`, '<value omitted>', 'must be base64-encoded'));
    bytes += Buffer.byteLength(k) + base64Length(v);
  }
  if (bytes > MAX_BYTES) causes.push(cause.tooLong('data', MAX_BYTES));
  checkImmutable(causes, obj, old, ['data', 'binaryData']);
  return causes;
}

export function validateSecret(obj: Obj, old?: Obj): Causes {
  const causes: Causes = [];
  const keys = new Set<string>();
  let bytes = 0;
  for (const [k, v] of checkStringMap(causes, 'data', obj.data)) {
    checkSyntax(causes, 'data', k, isConfigMapKey);
    // Secret values are never echoed back in errors.
    if (!BASE64.test(v)) causes.push(cause.invalid(`data[${k}]`, '<secret contents redacted>', 'must be base64-encoded; put plain text in stringData instead'));
    keys.add(k);
    bytes += Buffer.byteLength(k) + base64Length(v);
  }
  // stringData is merged into data by defaulting; it is checked here for callers that validate first.
  for (const [k, v] of checkStringMap(causes, 'stringData', obj.stringData)) {
    checkSyntax(causes, 'stringData', k, isConfigMapKey);
    keys.add(k);
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > MAX_BYTES) causes.push(cause.tooLong('data', MAX_BYTES));

  if (checkString(causes, 'type', obj.type)) {
    for (const key of Object.hasOwn(REQUIRED_SECRET_KEYS, obj.type) ? REQUIRED_SECRET_KEYS[obj.type] : []) {
      if (!keys.has(key)) causes.push(cause.required(`data[${key}]`, `a Secret of type ${obj.type} needs the key ${key}`));
    }
  }
  if (old && typeof old.type === 'string' && old.type !== '' && typeof obj.type === 'string' && obj.type !== '' && obj.type !== old.type) {
    causes.push(cause.invalid('type', obj.type, 'field is immutable'));
  }
  checkImmutable(causes, obj, old, ['data']);
  return causes;
}

function base64Length(v: string): number {
  return Math.floor((v.length * 3) / 4) - (v.endsWith('==') ? 2 : v.endsWith('=') ? 1 : 0);
}

/** Once `immutable: true` is set, neither the contents nor the flag may change. */
function checkImmutable(causes: Causes, obj: Obj, old: Obj | undefined, fields: string[]): void {
  if (obj.immutable !== undefined && typeof obj.immutable !== 'boolean') causes.push(cause.typeInvalid('immutable', obj.immutable, 'boolean'));
  if (!old || old.immutable !== true) return;
  if (obj.immutable !== true) causes.push(cause.forbidden('immutable', 'field is immutable when `immutable` is set'));
  for (const f of fields) {
    if (!sameValue(old[f] ?? {}, obj[f] ?? {})) causes.push(cause.forbidden(f, 'field is immutable when `immutable` is set'));
  }
}
