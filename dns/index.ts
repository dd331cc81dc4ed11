// The cluster DNS server's public face: `tug node` builds a Zone from its Service and Endpoints
// informers (buildZone, rebuilt on change) and starts one server per host (startDns).
export { startDns, type DnsOptions, type RunningDns } from './server.js';
export { buildZone, reverseName, TYPE, SCHEMA_VERSION, type Zone, type ZoneOptions, type ZoneRecord } from './records.js';
export { AnswerCache, type CacheOptions } from './cache.js';
