// The labels every container of the docker runtime carries, so a restarted node adopts its own.
export const LABEL = {
  podUid: 'io.tugboat.pod.uid',
  podName: 'io.tugboat.pod.name',
  namespace: 'io.tugboat.pod.namespace',
  containerName: 'io.tugboat.container.name',
  restartCount: 'io.tugboat.restart-count',
  node: 'io.tugboat.node',
} as const;

/** Marks a pod's pause container (docker-sandbox.ts). */
export const SANDBOX_LABEL = 'io.tugboat.sandbox';
