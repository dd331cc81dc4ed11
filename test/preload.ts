// Loaded into every test process by `npm test` (node --import): gives each test and hook the
// default timeout of test/timeouts.ts.
import { installDefaultTimeout } from './timeouts.js';

installDefaultTimeout();
