// The web console (`GET /ui`): the page, its assets and the traffic endpoint it reads.
export { consoleApi, consolePages, type ConsoleApiOptions } from './routes.js';
