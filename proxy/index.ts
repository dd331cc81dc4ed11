// The service proxy's public face: `tug node` starts one per host.
export { startProxy, type ProxyOptions, type RunningProxy } from './proxy.js';
