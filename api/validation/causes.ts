// Building blocks for validation: StatusCause constructors worded like Kubernetes' field errors,
// and type checks for JSON bodies, whose fields arrive untyped (`containerPort: "80"`).

import type { StatusCause } from '../errors.js';

export type Obj = Record<string, unknown>;
export type Causes = StatusCause[];

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** How Kubernetes prints a bad value: strings quoted, numbers bare, the rest as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'null';
  return JSON.stringify(value) ?? String(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

export const cause = {
  required: (field: string, detail?: string): StatusCause => ({
    reason: 'FieldValueRequired',
    field,
    message: detail ? `Required value: ${detail}` : 'Required value',
  }),
  invalid: (field: string, value: unknown, detail: string): StatusCause => ({
    reason: 'FieldValueInvalid',
    field,
    message: `Invalid value: ${show(value)}: ${detail}`,
  }),
  notSupported: (field: string, value: unknown, supported: readonly string[]): StatusCause => ({
    reason: 'FieldValueNotSupported',
    field,
    message: `Unsupported value: ${show(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`,
  }),
  duplicate: (field: string, value: unknown): StatusCause => ({
    reason: 'FieldValueDuplicate',
    field,
    message: `Duplicate value: ${show(value)}`,
  }),
  forbidden: (field: string, detail: string): StatusCause => ({
    reason: 'FieldValueForbidden',
    field,
    message: `Forbidden: ${detail}`,
  }),
  notFound: (field: string, value: unknown, detail?: string): StatusCause => ({
    reason: 'FieldValueNotFound',
    field,
    message: `Not found: ${show(value)}${detail ? `: ${detail}` : ''}`,
  }),
  tooLong: (field: string, max: number): StatusCause => ({
    reason: 'FieldValueTooLong',
    field,
    message: `Too long: must have at most ${max} bytes`,
  }),
  /** A value of the wrong JSON type; a quoted number gets told to drop the quotes. */
  typeInvalid: (field: string, value: unknown, expected: string): StatusCause => {
    const hint = expected === 'integer' && typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? ` (write ${value.trim()} without quotes)` : '';
    return {
      reason: 'FieldValueTypeInvalid',
      field,
      message: `Invalid value: ${show(value)}: must be of type ${expected}, not ${typeName(value)}${hint}`,
    };
  },
};

/** Pushes one Invalid cause per message of a syntax check such as `isDNS1123Label`. */
export function checkSyntax(causes: Causes, field: string, value: string, check: (v: string) => string[]): void {
  for (const msg of check(value)) causes.push(cause.invalid(field, value, msg));
}

/** True when `value` is a string (or absent and optional); otherwise records why not. */
export function checkString(causes: Causes, field: string, value: unknown, opts: { required?: boolean } = {}): value is string {
  if (value === undefined || value === null || value === '') {
    if (opts.required) causes.push(cause.required(field));
    else if (value === '') return true;
    return false;
  }
  if (typeof value !== 'string') {
    causes.push(cause.typeInvalid(field, value, 'string'));
    return false;
  }
  return true;
}

/**
 * Checks an optional (or required) integer and its range. Returns the number when it is an
 * integer, even out of range, so callers can go on comparing; undefined otherwise.
 */
export function checkInt(
  causes: Causes,
  field: string,
  value: unknown,
  opts: { required?: boolean; min?: number; max?: number; rangeMessage?: string } = {},
): number | undefined {
  if (value === undefined || value === null) {
    if (opts.required) causes.push(cause.required(field));
    return undefined;
  }
  if (typeof value !== 'number') {
    causes.push(cause.typeInvalid(field, value, 'integer'));
    return undefined;
  }
  if (!Number.isInteger(value)) {
    causes.push(cause.invalid(field, value, 'must be an integer'));
    return undefined;
  }
  const { min, max } = opts;
  if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
    const range =
      opts.rangeMessage ??
      (max === undefined ? `must be greater than or equal to ${min}` : min === undefined ? `must be less than or equal to ${max}` : `must be between ${min} and ${max}, inclusive`);
    causes.push(cause.invalid(field, value, range));
  }
  return value;
}

/** An object-valued field: true when it is an object (or absent and optional). */
export function checkObject(causes: Causes, field: string, value: unknown, opts: { required?: boolean } = {}): value is Obj {
  if (value === undefined || value === null) {
    if (opts.required) causes.push(cause.required(field));
    return false;
  }
  if (!isObj(value)) {
    causes.push(cause.typeInvalid(field, value, 'object'));
    return false;
  }
  return true;
}

/** An array-valued field: the array, or [] (with a cause when it is of another type). */
export function checkArray(causes: Causes, field: string, value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    causes.push(cause.typeInvalid(field, value, 'array'));
    return [];
  }
  return value;
}

/** A map of strings (labels, annotations, data): the entries whose values are strings. */
export function checkStringMap(causes: Causes, field: string, value: unknown): [string, string][] {
  if (value === undefined || value === null) return [];
  if (!isObj(value)) {
    causes.push(cause.typeInvalid(field, value, 'object'));
    return [];
  }
  const entries: [string, string][] = [];
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') entries.push([k, v]);
    else causes.push(cause.typeInvalid(`${field}[${k}]`, v, 'string'));
  }
  return entries;
}

/** Checks a value against a closed set of strings; absent values pass (defaulting fills them). */
export function checkEnum(causes: Causes, field: string, value: unknown, supported: readonly string[]): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'string') causes.push(cause.typeInvalid(field, value, 'string'));
  else if (!supported.includes(value)) causes.push(cause.notSupported(field, value, supported));
}

/** Deep equality ignoring object key order, for immutable fields compared across an update. */
export function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
