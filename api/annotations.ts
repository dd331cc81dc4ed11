// Annotations that one component writes and another reads.

/** On a Node: where the node's Prometheus /metrics listens (host:port), for `tug traffic` and Prometheus discovery. */
export const METRICS_ADDRESS_ANNOTATION = 'tugboat.io/metrics-address';

/** On Endpoints: when the oldest change they reflect happened, so proxies can measure their programming latency. */
export const ENDPOINTS_TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';
