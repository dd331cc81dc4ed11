// What a request asks to do, in the terms authorization speaks: verb, API group, resource,
// subresource, namespace and name, or a non-resource path. Parsed from the method and URL alone,
// before routing, the way kube-apiserver's RequestInfoFactory does, so an unknown resource is
// 403 for whoever may not see it and 404 only for those who may.

export interface Attributes {
  verb: string;
  /** False for non-resource paths (/version, /healthz, /metrics, discovery, ...). */
  resourceRequest: boolean;
  path: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
}

const METHOD_VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
/** Subresources that open a stream to a container: authorized as `create` whatever the method (a WebSocket upgrade is a GET). */
const CONNECT_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);
/** Subresources of the Namespace object itself: `namespaces/{name}/status` is not a resource called "status". */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

function segmentsOf(path: string): string[] | undefined {
  try {
    return path.split('/').filter((s) => s !== '').map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** The name a field selector pins with `metadata.name=X` (or `==`), so resourceNames rules apply to lists and watches. */
function nameFromFieldSelector(selector: string | null): string {
  for (const term of (selector ?? '').split(',')) {
    const m = /^\s*metadata\.name\s*==?\s*([^,\s]+)\s*$/.exec(term);
    if (m) return m[1];
  }
  return '';
}

function nonResource(method: string, path: string): Attributes {
  return { verb: method === 'HEAD' ? 'get' : method.toLowerCase(), resourceRequest: false, path, apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' };
}

/** The attributes of a request for `method` on `url` (path and query). */
export function requestAttributes(method: string, url: URL): Attributes {
  const path = url.pathname;
  const segments = segmentsOf(path);
  if (!segments) return nonResource(method, path);
  let rest: string[];
  let apiGroup = '';
  let apiVersion: string;
  if (segments[0] === 'api' && segments.length >= 3) {
    apiVersion = segments[1];
    rest = segments.slice(2);
  } else if (segments[0] === 'apis' && segments.length >= 4) {
    apiGroup = segments[1];
    apiVersion = segments[2];
    rest = segments.slice(3);
  } else {
    return nonResource(method, path);
  }
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2])) rest = rest.slice(2);
  }
  const [resource = '', name = '', subresource = ''] = rest;
  let verb = METHOD_VERBS[method] ?? method.toLowerCase();
  let effectiveName = name;
  if (!name && verb === 'get') {
    const watch = url.searchParams.get('watch');
    verb = watch === 'true' || watch === '1' ? 'watch' : 'list';
    effectiveName = nameFromFieldSelector(url.searchParams.get('fieldSelector'));
  } else if (!name && verb === 'delete') {
    verb = 'deletecollection';
  }
  if (CONNECT_SUBRESOURCES.has(subresource)) verb = 'create';
  return { verb, resourceRequest: true, path, apiGroup, apiVersion, namespace, resource, subresource, name: effectiveName };
}

/** `User "jane" cannot list resource "pods" in API group "" in the namespace "default"`: what a 403 says. */
export function describeDenial(username: string, a: Attributes): string {
  if (!a.resourceRequest) return `User "${username}" cannot ${a.verb} path "${a.path}"`;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `User "${username}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" ${scope}`;
}
