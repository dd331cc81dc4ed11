// Annotations a node puts on its Node object for other components to find it by.

/** Where the node's Prometheus /metrics listens (host:port): `tug traffic`, Prometheus discovery. */
export const METRICS_ADDRESS_ANNOTATION = 'tugboat.io/metrics-address';
