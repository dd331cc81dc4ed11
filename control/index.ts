// The control node's public face.
export { startControl, parseListen, type ControlOptions, type RunningControl } from './control.js';
export { createApiApp } from './apiserver/app.js';
export { CA_BUNDLE_PATH, CA_ROTATE_PATH, ROTATE_PATH } from '../api/paths.js';
export { Registry } from './apiserver/registry.js';
export { createMemoryStore, openSqliteStore, type Store } from './store/index.js';
export { newNodeTokenSecret, newUserTokenSecret } from './tokens.js';
