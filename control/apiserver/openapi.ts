// A minimal OpenAPI v3: one document per group-version naming each kind's PATCH path with its
// `fieldValidation` parameter, which is what kubectl needs to validate and apply manifests.
import { RESOURCES, groupVersions, type ResourceInfo } from '../../api/resources.js';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** A stable hash per document so kubectl's cache notices when the catalogue changes. */
function hashOf(text: string): string {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16).toUpperCase();
}

export function openApiIndex() {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of groupVersions()) {
    const p = gvPath(gv.group, gv.version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hashOf(JSON.stringify(openApiDocument(gv.group, gv.version)))}` };
  }
  return { paths };
}

function itemPath(r: ResourceInfo): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return r.namespaced ? `${base}/namespaces/{namespace}/${r.plural}/{name}` : `${base}/${r.plural}/{name}`;
}

export function openApiDocument(group: string, version: string) {
  const inGroup = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (!inGroup.length) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of inGroup) {
    const gvk = { group: r.group, version: r.version, kind: r.kind };
    const parameters = [
      { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
    ];
    paths[itemPath(r)] = {
      get: { 'x-kubernetes-group-version-kind': gvk, responses: {} },
      put: { 'x-kubernetes-group-version-kind': gvk, parameters, responses: {} },
      patch: { 'x-kubernetes-group-version-kind': gvk, parameters, responses: {} },
    };
  }
  return { openapi: '3.0.0', info: { title: 'tugboat', version: version }, components: { schemas: {} }, paths };
}

/** The media type kubectl asks for when it fetches `/openapi/v2`. */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

/**
 * An empty OpenAPI v2 document. kubectl validates a kind that the v3 index does not list (an
 * unknown apiVersion/kind) against v2; an empty v2 lets it fall through to its own
 * `no matches for kind "X" in version "Y"` error instead of a bare 404 it cannot explain.
 */
export function openApiV2Json() {
  return { swagger: '2.0', info: { title: 'tugboat', version: 'v2' }, paths: {}, definitions: {} };
}

/** The same document as gnostic protobuf: only `swagger: "2.0"` (field 1, length 3). */
export function openApiV2Protobuf(): ArrayBuffer {
  return new Uint8Array([0x0a, 0x03, 0x32, 0x2e, 0x30]).buffer;
}

