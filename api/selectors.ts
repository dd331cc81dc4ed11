// Label and field selectors: parsing the `?labelSelector=` / `?fieldSelector=` query syntax and
// LabelSelector objects into requirements, and matching objects against them.

import { errors } from './errors.js';
import type { KubeObject, LabelSelector } from './types.js';
import { isQualifiedName, isValidLabelValue } from './validation/names.js';

export type LabelOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One clause of a label selector. `k=v` is `In [v]`, `k!=v` is `NotIn [v]`. */
export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

export interface FieldRequirement {
  /** A dotted path into the object: `metadata.name`, `spec.nodeName`, `involvedObject.uid`. */
  field: string;
  operator: '=' | '!=';
  value: string;
}

// ---- label selectors ------------------------------------------------------------------------

const SPECIAL = new Set(['!', '=', ',', '(', ')', '<', '>']);

/** Splits at commas outside parentheses, so `a in (x,y),b` is two requirements. */
function splitTopLevel(text: string, fail: (part: string, why: string) => never): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth < 0) fail(text.slice(start, i + 1), "unbalanced ')'");
    } else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth > 0) fail(text.slice(start), "missing ')'");
  parts.push(text.slice(start));
  return parts;
}

/** Words (runs of non-special, non-space characters) and operators `!`, `=`, `==`, `!=`, `(`, `)`, `,`. */
function lex(part: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < part.length) {
    const c = part[i];
    if (/\s/.test(c)) {
      i++;
    } else if ((c === '=' || c === '!') && part[i + 1] === '=') {
      tokens.push(c + '=');
      i += 2;
    } else if (SPECIAL.has(c)) {
      tokens.push(c);
      i++;
    } else {
      let j = i;
      while (j < part.length && !SPECIAL.has(part[j]) && !/\s/.test(part[j])) j++;
      tokens.push(part.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

const isWord = (t: string | undefined): t is string => t !== undefined && !SPECIAL.has(t) && t !== '==' && t !== '!=';

function parseRequirement(part: string, fail: (part: string, why: string) => never): LabelRequirement {
  const t = lex(part);
  const bad = (why: string): never => fail(part, why);
  if (t.length === 0) return bad('empty requirement; remove the extra comma');
  if (t[0] === '!') {
    if (t.length !== 2 || !isWord(t[1])) bad("expected a single label key after '!', e.g. '!canary'");
    return { key: t[1], operator: 'DoesNotExist', values: [] };
  }
  const key = t[0];
  if (!isWord(key)) return bad(`expected a label key, found '${key}'`);
  if (t.length === 1) return { key, operator: 'Exists', values: [] };
  const op = t[1];
  if (op === '=' || op === '==' || op === '!=') {
    if (t.length > 3 || (t.length === 3 && !isWord(t[2]))) bad(`expected a single value after '${op}', e.g. '${key}${op}value'`);
    return { key, operator: op === '!=' ? 'NotIn' : 'In', values: [t[2] ?? ''] };
  }
  if (op === 'in' || op === 'notin') {
    if (t[2] !== '(' || t[t.length - 1] !== ')') bad(`expected values in parentheses after '${op}', e.g. '${key} ${op} (a,b)'`);
    const values: string[] = [];
    // Between the parentheses: value (',' value)*; an empty slot is the empty label value.
    let expectValue = true;
    for (const tok of t.slice(3, -1)) {
      if (tok === ',') {
        if (expectValue) values.push('');
        expectValue = true;
      } else if (isWord(tok) && expectValue) {
        values.push(tok);
        expectValue = false;
      } else {
        bad(`unexpected '${tok}' in the value list; write '${key} ${op} (a,b)'`);
      }
    }
    if (values.length === 0 && expectValue && t.length === 4) bad(`the value list of '${op}' must not be empty`);
    if (expectValue) values.push('');
    return { key, operator: op === 'in' ? 'In' : 'NotIn', values };
  }
  if (op === '<' || op === '>') return bad(`operator '${op}' is not supported; use =, ==, !=, in, notin, 'key' or '!key'`);
  return bad(`expected an operator (=, ==, !=, in, notin) after '${key}', found '${op}'`);
}

function checkRequirement(req: LabelRequirement, fail: (why: string) => never): void {
  const keyErrs = isQualifiedName(req.key);
  if (keyErrs.length) fail(`invalid label key "${req.key}": ${keyErrs.join('; ')}`);
  for (const v of req.values) {
    const valueErrs = isValidLabelValue(v);
    if (valueErrs.length) fail(`invalid label value "${v}": ${valueErrs.join('; ')}`);
  }
}

/**
 * Parses `app=web,tier in (a,b),!canary`. An empty string selects everything.
 * Throws a 400 BadRequest naming the requirement that does not parse.
 */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const fail = (part: string, why: string): never => {
    throw errors.badRequest(`unable to parse label selector "${text}": requirement "${part.trim()}": ${why}`);
  };
  if (text.trim() === '') return [];
  return splitTopLevel(text, fail).map((part) => {
    const req = parseRequirement(part, fail);
    checkRequirement(req, (why) => fail(part, why));
    return req;
  });
}

/** Requirements of a LabelSelector object; `{}` selects everything. Throws 400 on a bad operator or value list. */
export function fromLabelSelector(sel: LabelSelector): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key, operator: 'In', values: [value] });
  for (const expr of sel.matchExpressions ?? []) {
    const values = expr.values ?? [];
    const fail = (why: string): never => {
      throw errors.badRequest(`invalid label selector: matchExpressions key "${expr.key}": ${why}`);
    };
    switch (expr.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) fail(`values must be non-empty for operator ${expr.operator}`);
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) fail(`values must be empty for operator ${expr.operator}`);
        break;
      default:
        fail(`"${expr.operator}" is not a valid label selector operator; use In, NotIn, Exists or DoesNotExist`);
    }
    const req: LabelRequirement = { key: expr.key, operator: expr.operator as LabelOperator, values: [...values] };
    checkRequirement(req, fail);
    reqs.push(req);
  }
  return reqs;
}

/** True when the labels satisfy every requirement; no requirements match every object. */
export function matchesLabels(reqs: LabelRequirement[], labels?: Record<string, string>): boolean {
  const has = (k: string): boolean => labels !== undefined && labels !== null && Object.hasOwn(labels, k);
  return reqs.every((r) => {
    switch (r.operator) {
      case 'In':
        return has(r.key) && r.values.includes(labels![r.key]);
      case 'NotIn':
        return !has(r.key) || !r.values.includes(labels![r.key]);
      case 'Exists':
        return has(r.key);
      case 'DoesNotExist':
        return !has(r.key);
    }
  });
}

/**
 * Renders a LabelSelector the way kubectl does (`app=web,tier in (a,b)`): requirements sorted by key,
 * set values sorted. An empty selector gives '' (tables print `<none>` for it).
 */
export function labelSelectorToString(sel: LabelSelector): string {
  const clauses: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) clauses.push({ key, text: `${key}=${value}` });
  for (const { key, operator, values = [] } of sel.matchExpressions ?? []) {
    const set = `(${[...new Set(values)].sort().join(',')})`;
    const text =
      operator === 'In' ? `${key} in ${set}` : operator === 'NotIn' ? `${key} notin ${set}` : operator === 'DoesNotExist' ? `!${key}` : key;
    clauses.push({ key, text });
  }
  return clauses
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((c) => c.text)
    .join(',');
}

// ---- field selectors ------------------------------------------------------------------------

const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** Splits at commas not escaped with a backslash (values may write `\,`, `\=` and `\\`). */
function splitUnescaped(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === ',') {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/**
 * Parses `metadata.name=web,status.phase!=Running`. An empty string selects everything.
 * Throws a 400 BadRequest naming the part that does not parse.
 */
export function parseFieldSelector(text: string): FieldRequirement[] {
  const fail = (part: string, why: string): never => {
    throw errors.badRequest(`invalid field selector "${text}": "${part}": ${why}`);
  };
  const reqs: FieldRequirement[] = [];
  for (const part of splitUnescaped(text)) {
    if (part.trim() === '') continue;
    let i = 0;
    let op: '=' | '!=' | undefined;
    let opLen = 0;
    for (; i < part.length; i++) {
      if (part[i] === '\\') {
        i++;
      } else if (part.startsWith('!=', i)) {
        [op, opLen] = ['!=', 2];
        break;
      } else if (part.startsWith('==', i)) {
        [op, opLen] = ['=', 2];
        break;
      } else if (part[i] === '=') {
        [op, opLen] = ['=', 1];
        break;
      }
    }
    if (!op) return fail(part, "expected 'field=value', 'field==value' or 'field!=value'");
    const field = part.slice(0, i).trim();
    if (!FIELD_PATH.test(field)) fail(part, `"${field}" is not a field path; write it like metadata.name or spec.nodeName`);
    reqs.push({ field, operator: op, value: unescapeValue(part.slice(i + opLen), (why) => fail(part, why)) });
  }
  return reqs;
}

function unescapeValue(raw: string, fail: (why: string) => never): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\') {
      const next = raw[i + 1];
      if (next !== '\\' && next !== ',' && next !== '=') fail(`invalid escape sequence '\\${next ?? ''}'; only \\\\, \\, and \\= are allowed`);
      out += next;
      i++;
    } else if (c === ',' || c === '=') {
      fail(`unescaped '${c}' in the value; write \\${c}`);
    } else {
      out += c;
    }
  }
  return out;
}

/** The value at a dotted path as a string; a missing field is ''. */
export function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, seg)) return '';
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'string') return cur;
  if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur);
  return JSON.stringify(cur);
}

export function matchesFields(reqs: FieldRequirement[], obj: KubeObject): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) === (r.operator === '='));
}
