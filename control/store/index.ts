// The Store component's only door: the contract and its backends (DESIGN.md §3).
export type { KeyPrefix, ObjectKey, Store, StoreEvent, StoreWatch } from './types.js';
export { createMemoryStore } from './memory.js';
export { openSqliteStore } from './sqlite.js';
export { encryptionConfigYaml, loadOrCreateEncryptionConfig, parseEncryptionConfig, ValueTransformer, withNewKey, type EncryptionConfig } from './encryption.js';
