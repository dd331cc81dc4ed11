// The console's HTTP routes, as two Hono apps the API server mounts: `consolePages` (the page and
// its script and stylesheet, public: they hold no cluster data and the page must load before it
// has a token) and `consoleApi` (mounted behind the API's token check: per-endpoint traffic).
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { errors } from '../../api/errors.js';
import { resourceOfKind } from '../../api/resources.js';
import { scrapeNodeMetrics } from '../../api/traffic.js';
import type { Node } from '../../api/types.js';
import { isDNS1035Label, isDNS1123Label } from '../../api/validation.js';
import type { Registry } from '../apiserver/registry.js';
import { CONSOLE_CSS, CONSOLE_HTML } from './page.js';
import { trafficReport, TrafficSampler } from './traffic.js';

const NODE = resourceOfKind('Node');
const SERVICE = resourceOfKind('Service');

/** The compiled browser modules the page loads, by the name it asks for. */
const SCRIPTS = ['main.js', 'view.js'];
const BROWSER_DIR = new URL('./browser/', import.meta.url);

const PAGE_HEADERS = {
  // The page talks only to this server; the token in it must not leak to another origin or frame.
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

/** Mounted at the root: `/ui`, `/ui/` and `/ui/static/*`. */
export function consolePages(): Hono {
  const app = new Hono();
  const scripts = new Map<string, string>();
  const script = (name: string): string => {
    let text = scripts.get(name);
    if (text === undefined) {
      // Without the source map comment: the maps are not served.
      text = readFileSync(new URL(name, BROWSER_DIR), 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
      scripts.set(name, text);
    }
    return text;
  };
  app.get('/ui', (c) => c.html(CONSOLE_HTML, 200, PAGE_HEADERS));
  // A redirect keeps the #token fragment (browsers carry it over), so /ui/#token=... works too.
  app.get('/ui/', (c) => c.redirect('/ui', 301));
  app.get('/ui/static/console.css', (c) => c.body(CONSOLE_CSS, 200, { ...PAGE_HEADERS, 'Content-Type': 'text/css; charset=utf-8' }));
  app.get('/ui/static/:file', (c) => {
    const name = c.req.param('file');
    if (!SCRIPTS.includes(name)) throw errors.notFoundPath();
    return c.body(script(name), 200, { ...PAGE_HEADERS, 'Content-Type': 'text/javascript; charset=utf-8' });
  });
  return app;
}

export interface TrafficQuery {
  namespace?: string;
  service?: string;
}

/** `?namespace=&service=`: both optional, a service alone means the default namespace. */
export function parseTrafficQuery(params: URLSearchParams): TrafficQuery {
  const q: TrafficQuery = {};
  for (const name of new Set(params.keys())) {
    if (name !== 'namespace' && name !== 'service') throw errors.badRequest(`unknown query parameter "${name}"; /ui/api/traffic takes namespace and service`);
    const values = params.getAll(name);
    if (values.length > 1) throw errors.badRequest(`query parameter "${name}" is given ${values.length} times; give it once`);
    const problems = (name === 'namespace' ? isDNS1123Label : isDNS1035Label)(values[0]);
    if (problems.length) throw errors.badRequest(`query parameter ${name}="${values[0]}" is not a valid ${name} name: ${problems.join('; ')}`);
    q[name] = values[0];
  }
  if (q.service && !q.namespace) q.namespace = 'default';
  return q;
}

export interface ConsoleApiOptions {
  registry: Registry;
  /** Where the rates come from; by default every Node's published metrics address. */
  sampler?: TrafficSampler;
}

export function consoleApi(opts: ConsoleApiOptions): Hono {
  const app = new Hono();
  const sampler = opts.sampler ?? new TrafficSampler({ scrape: async () => scrapeNodeMetrics((await opts.registry.list(NODE, undefined)).items as Node[]) });
  app.get('/traffic', async (c) => {
    const q = parseTrafficQuery(new URL(c.req.url).searchParams);
    if (q.service) await opts.registry.get(SERVICE, q.namespace, q.service);
    const { before, now } = await sampler.sample();
    const report = trafficReport(before, now, q.service ? `${q.namespace}/${q.service}` : undefined);
    if (q.namespace && !q.service) report.services = report.services.filter((s) => s.namespace === q.namespace);
    return c.json(report);
  });
  return app;
}
