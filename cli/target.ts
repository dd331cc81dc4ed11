// Naming one object on the command line as kubectl does: `deploy/web`, `deployment.apps/web`
// or `deployment web`, resolved against the resource catalogue.
import { resolveResourceName, type ResourceInfo } from '../api/resources.js';
import { UsageError } from './args.js';

export interface Target {
  resource: ResourceInfo;
  name: string;
}

/** The resource a user typed (`po`, `deploy`, `services`), or a usage error naming it. */
export function resourceArg(kind: string): ResourceInfo {
  const r = resolveResourceName(kind);
  if (!r) throw new UsageError(`the server doesn't have a resource type "${kind}"; run \`kubectl api-resources\` to list the types`);
  return r;
}

/**
 * Reads `KIND/NAME` or `KIND NAME` from the positionals. `allowed` restricts the kinds; the
 * error then says which ones the command takes. `example` completes the usage message.
 */
export function parseTarget(positionals: string[], example: string, allowed?: string[]): Target {
  const [first, second, ...extra] = positionals;
  if (!first) throw new UsageError(`say which object: ${example}`);
  let kind: string;
  let name: string | undefined;
  if (first.includes('/')) {
    [kind, name] = [first.slice(0, first.indexOf('/')), first.slice(first.indexOf('/') + 1)];
    if (second !== undefined) throw new UsageError(`there is more after ${first}: ${[second, ...extra].join(' ')}; ${example}`);
  } else {
    [kind, name] = [first, second];
    if (extra.length) throw new UsageError(`there is more after ${first} ${second}: ${extra.join(' ')}; ${example}`);
  }
  if (!name) throw new UsageError(`say which ${kind} by name: ${example}`);
  const resource = resourceArg(kind);
  if (allowed && !allowed.includes(resource.kind)) {
    throw new UsageError(`${resource.plural} cannot be used here; this command works on ${allowed.map((k) => k.toLowerCase() + 's').join(' and ')} (${example})`);
  }
  return { resource, name };
}

/** `deployment.apps/web`, `pod/web`: how kubectl names an object in its messages. */
export function displayName(r: ResourceInfo, name: string): string {
  return `${r.group ? `${r.singular}.${r.group}` : r.singular}/${name}`;
}
