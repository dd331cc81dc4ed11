// Validation of ObjectMeta (name, generateName, namespace, labels, annotations, finalizers), shared
// by every kind, and of label maps wherever they appear (template labels, selectors, nodeSelector).

import { cause, checkArray, checkString, checkStringMap, checkSyntax, isObj, type Causes } from './causes.js';
import { isDNS1123Label, isQualifiedName, isValidLabelValue } from './names.js';

const ANNOTATIONS_MAX_BYTES = 256 * 1024;

export interface MetaRules {
  namespaced: boolean;
  /** The syntax check for this kind's names (a DNS subdomain for most kinds). */
  nameCheck: (name: string) => string[];
}

export function validateObjectMeta(meta: unknown, rules: MetaRules, path = 'metadata'): Causes {
  const causes: Causes = [];
  if (!isObj(meta)) {
    if (meta === undefined || meta === null) causes.push(cause.required(`${path}.name`, 'name or generateName is required'));
    else causes.push(cause.typeInvalid(path, meta, 'object'));
    return causes;
  }
  const absent = (v: unknown): boolean => v === undefined || v === null || v === '';
  if (!absent(meta.name)) {
    if (checkString(causes, `${path}.name`, meta.name)) checkSyntax(causes, `${path}.name`, meta.name, rules.nameCheck);
  } else if (absent(meta.generateName)) {
    causes.push(cause.required(`${path}.name`, 'name or generateName is required'));
  } else if (checkString(causes, `${path}.generateName`, meta.generateName)) {
    // A prefix may end in '-': check it as if the random suffix were already there.
    const masked = meta.generateName.replace(/-$/, 'a');
    for (const msg of rules.nameCheck(masked)) causes.push(cause.invalid(`${path}.generateName`, meta.generateName, msg));
  }

  if (!absent(meta.namespace) && checkString(causes, `${path}.namespace`, meta.namespace)) {
    if (rules.namespaced) checkSyntax(causes, `${path}.namespace`, meta.namespace, isDNS1123Label);
    else causes.push(cause.forbidden(`${path}.namespace`, 'not allowed on this type'));
  }

  validateLabels(causes, `${path}.labels`, meta.labels);
  validateAnnotations(causes, `${path}.annotations`, meta.annotations);

  checkArray(causes, `${path}.finalizers`, meta.finalizers).forEach((f, i) => {
    if (checkString(causes, `${path}.finalizers[${i}]`, f, { required: true })) checkSyntax(causes, `${path}.finalizers[${i}]`, f, isQualifiedName);
  });
  return causes;
}

/** Label keys must be qualified names and values label values; causes point at the map, as in Kubernetes. */
export function validateLabels(causes: Causes, field: string, labels: unknown): void {
  for (const [k, v] of checkStringMap(causes, field, labels)) {
    checkSyntax(causes, field, k, isQualifiedName);
    checkSyntax(causes, field, v, isValidLabelValue);
  }
}

function validateAnnotations(causes: Causes, field: string, annotations: unknown): void {
  let bytes = 0;
  for (const [k, v] of checkStringMap(causes, field, annotations)) {
    for (const msg of isQualifiedName(k.toLowerCase())) causes.push(cause.invalid(field, k, msg));
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > ANNOTATIONS_MAX_BYTES) causes.push(cause.tooLong(field, ANNOTATIONS_MAX_BYTES));
}
