// Bounds on the shape of a decoded request body, checked before anything else walks it (in the
// YAML worker too, so a body past them is never copied to the event loop). The costs after
// decoding (copies, validation, storage, watch events) grow with the members of a body; these
// bounds keep one request's share of the event loop small.
import { Lexer } from 'yaml';

/** Deeper than any real object, and shallow enough that recursive code after decoding cannot overflow the stack. */
export const MAX_BODY_DEPTH = 512;
/** Object keys and list items in all: a Deployment has about a hundred, Endpoints for 1,000 pods about 8,000. */
export const MAX_BODY_MEMBERS = 20_000;

const TOO_DEEP = `the request body is nested more than ${MAX_BODY_DEPTH} levels deep; no Kubernetes object is`;
const TOO_LARGE = `the request body has more than ${MAX_BODY_MEMBERS} keys and list items; no object this server stores needs that many (split a large ConfigMap or Secret into several)`;

/** What makes `value` too deep or too large, or undefined; stops at the first bound crossed. */
export function shapeProblem(value: unknown): string | undefined {
  const values: unknown[] = [value];
  const depths: number[] = [1];
  let members = 0;
  while (values.length) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_BODY_DEPTH) return TOO_DEEP;
    const children = Array.isArray(v) ? v : Object.values(v);
    members += children.length;
    if (members > MAX_BODY_MEMBERS) return TOO_LARGE;
    for (const child of children) {
      if (child === null || typeof child !== 'object') continue;
      values.push(child);
      depths.push(depth + 1);
    }
  }
  return undefined;
}

const OBJECT = 0;
const EMPTY_ARRAY = 1;
const ARRAY = 2;

/**
 * shapeProblem for JSON text, before it is parsed: parsing a map of 100,000 keys alone takes a
 * tenth of a second. Counts what the text would make (object members by their colons, list items
 * by their commas) in one pass over the characters; for text that is not JSON, whatever it counts
 * (JSON.parse then says what is wrong).
 */
export function jsonShapeProblem(text: string): string | undefined {
  const stack: number[] = [];
  let members = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    const top = stack.length ? stack[stack.length - 1] : -1;
    if (top === EMPTY_ARRAY && c !== 0x5d) {
      members++;
      stack[stack.length - 1] = ARRAY;
    }
    if (c === 0x22) i = stringEnd(text, i);
    else if (c === 0x5b || c === 0x7b) {
      stack.push(c === 0x5b ? EMPTY_ARRAY : OBJECT);
      if (stack.length > MAX_BODY_DEPTH) return TOO_DEEP;
    } else if (c === 0x5d || c === 0x7d) stack.pop();
    else if ((c === 0x3a && top === OBJECT) || (c === 0x2c && top === ARRAY)) members++;
    if (members > MAX_BODY_MEMBERS) return TOO_LARGE;
  }
  return undefined;
}

/**
 * Whether YAML text would make more than MAX_BODY_MEMBERS keys and list items, judged from its
 * tokens before anything is built: the lexer reads a large map ten times faster than the parser
 * builds it, and stops at the bound. The tokens counted are value indicators (`:`), list item
 * indicators (`-`) and flow separators (`,`); a member costs at most two of them (`a: 1,` in a
 * flow map), so twice the bound is allowed here and shapeProblem takes the exact count after.
 */
export function yamlShapeProblem(text: string): string | undefined {
  let counted = 0;
  for (const token of new Lexer().lex(text)) {
    if (token !== ':' && token !== '-' && token !== ',') continue;
    if (++counted > 2 * MAX_BODY_MEMBERS) return TOO_LARGE;
  }
  return undefined;
}

/** The index of the quote that closes the string opening at `start` (the last index if none does). */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i;
  }
  return text.length - 1;
}
