// The control node's public face.
export { startControl, parseListen, type ControlOptions, type RunningControl } from './control.js';
export { createApiApp, ROTATE_PATH } from './apiserver/app.js';
export { Registry } from './apiserver/registry.js';
export { createMemoryStore, openSqliteStore, type Store } from './store/index.js';
export { newNodeTokenSecret, newUserTokenSecret } from './tokens.js';
