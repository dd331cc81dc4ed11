// Writes the dashboards of dashboards.ts to grafana/dashboards/*.json (`npm run dashboards`) and
// removes JSON files there that no builder produces, so the folder is exactly what the code says.
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dashboards, renderDashboard } from './dashboards.js';

/** grafana/dashboards/ in the source tree (this file runs as dist/grafana/generate.js). */
export const DASHBOARDS_DIR = fileURLToPath(new URL('../../grafana/dashboards/', import.meta.url));

function main(): void {
  const wanted = dashboards();
  for (const [file, dashboard] of Object.entries(wanted)) writeFileSync(`${DASHBOARDS_DIR}${file}`, renderDashboard(dashboard));
  for (const file of readdirSync(DASHBOARDS_DIR)) {
    if (file.endsWith('.json') && !(file in wanted)) rmSync(`${DASHBOARDS_DIR}${file}`);
  }
  console.log(`wrote ${Object.keys(wanted).length} dashboards to ${DASHBOARDS_DIR}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
