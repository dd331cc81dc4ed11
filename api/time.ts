// Kubernetes' timestamp format (metav1.Time): RFC 3339 in whole seconds, UTC.

export function rfc3339(t: number | Date = Date.now()): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
