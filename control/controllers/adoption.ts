// Adoption of orphans (objects without a controller that a selector matches), as Kubernetes'
// ControllerRefManager does it: the owner is first read back from the API, so an owner that was
// just deleted (or is being deleted) in a way the cache has not shown yet adopts nothing.
import type { ApiClient } from '../../api/client.js';
import { isApiError } from '../../api/errors.js';
import type { ResourceInfo } from '../../api/resources.js';
import type { KubeObject } from '../../api/types.js';
import { controllerRefTo } from './podutil.js';

/**
 * Makes `owner` the controller of each orphan, each write compare-and-swap on the version seen.
 * Returns false when the owner is gone, replaced or being deleted (nothing was adopted).
 */
export async function adoptOrphans(client: ApiClient, ownerResource: ResourceInfo, owner: KubeObject, resource: ResourceInfo, orphans: KubeObject[]): Promise<boolean> {
  const live = await client.get(ownerResource, owner.metadata.namespace, owner.metadata.name!).catch((e) => {
    if (isApiError(e) && e.code === 404) return undefined;
    throw e;
  });
  if (!live || live.metadata.uid !== owner.metadata.uid || live.metadata.deletionTimestamp) return false;
  for (const orphan of orphans) {
    const refs = [...(orphan.metadata.ownerReferences ?? []), controllerRefTo(live)];
    await client.patch(resource, orphan.metadata.namespace, orphan.metadata.name!, { metadata: { ownerReferences: refs, resourceVersion: orphan.metadata.resourceVersion } }, 'merge').catch((e) => {
      // Changed or gone meanwhile: the informer brings the news and the owner is synced again.
      if (!(isApiError(e) && (e.code === 404 || e.code === 409))) throw e;
    });
  }
  return true;
}
