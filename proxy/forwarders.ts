// Picks the forwarder for a Service port's mode, once, when its state is made (STYLE habit 2):
// `appProtocol: http` ports balance per request (proxy/http), every other TCP port per connection.
import { createHttpForwarder } from './http/index.js';
import type { ForwardMode } from './table.js';
import { createTcpForwarder } from './tcp.js';
import type { ForwardObserver, Forwarder, Picker } from './types.js';

export interface ForwarderSettings {
  /** TCP idle timeout (default 10 min); HTTP ports keep their own (idle between requests). */
  idleTimeoutMs?: number;
  /** Upstream connect timeout before trying the next endpoint (default 3 s). */
  connectTimeoutMs?: number;
}

export interface ForwarderTarget {
  namespace: string;
  service: string;
  /** The port's name, or its number when unnamed. */
  port: string;
}

export function createForwarder(mode: Exclude<ForwardMode, 'udp'>, target: ForwarderTarget, picker: () => Picker, observer: ForwardObserver, settings: ForwarderSettings = {}): Forwarder {
  if (mode === 'http') {
    // The 503 body names the Service as users know it.
    return createHttpForwarder({ service: `${target.namespace}/${target.service}`, picker, observer, connectTimeoutMs: settings.connectTimeoutMs });
  }
  return createTcpForwarder({ service: `${target.namespace}/${target.service}:${target.port}`, picker, observer, ...settings });
}
