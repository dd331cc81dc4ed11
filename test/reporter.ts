// A node:test reporter that adds one thing to the spec reporter's output: at the end of the run,
// every suite and test skipped for a missing component (test/requirements.ts), grouped by what is
// missing and how to add it, so a green run on a bare machine says what it did not cover; and,
// under TUG_TEST_REQUIRE=all, every test file that failed for a missing component.
import { relative } from 'node:path';
import { REQUIRED_MARKER, SKIP_PREFIX } from './requirements.js';

interface TestEvent {
  type: string;
  data?: { name?: string; file?: string; skip?: string | boolean; message?: string };
}

interface Missing {
  /** `<component>: <problem>; fix: <fix>` */
  reason: string;
  /** The suite or test skipped, or the file that failed. */
  what: string;
}

function where(file: string | undefined): string {
  return file ? relative(process.cwd(), file) : '';
}

function section(title: string, missing: Missing[]): string[] {
  if (missing.length === 0) return [];
  const byReason = new Map<string, string[]>();
  for (const m of missing) byReason.set(m.reason, [...(byReason.get(m.reason) ?? []), m.what]);
  const lines = ['', title];
  for (const [reason, what] of [...byReason].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`  ${reason}`);
    for (const w of new Set(what)) lines.push(`    - ${w}`);
  }
  return lines;
}

/** The end-of-run summary of skipped and failed suites, or '' when nothing was missing. */
export function missingSummary(skipped: Missing[], required: Missing[]): string {
  const lines = [
    ...section('Skipped for a missing component (TUG_TEST_REQUIRE=all makes these failures):', skipped),
    ...section('Failed for a missing component (TUG_TEST_REQUIRE=all):', required),
  ];
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export default async function* missingComponents(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const skipped: Missing[] = [];
  const required: Missing[] = [];
  for await (const { type, data } of source) {
    if ((type === 'test:pass' || type === 'test:fail') && typeof data?.skip === 'string' && data.skip.startsWith(SKIP_PREFIX)) {
      skipped.push({ reason: data.skip.slice(SKIP_PREFIX.length), what: `${data.name} (${where(data.file)})` });
    } else if (type === 'test:stderr' && data?.message?.includes(REQUIRED_MARKER)) {
      const m = new RegExp(`(\\S+)${REQUIRED_MARKER.replace(/[()]/g, '\\$&')}(.*)`).exec(data.message);
      if (m) required.push({ reason: `${m[1]}: ${m[2].trim()}`, what: where(data.file) });
    }
  }
  yield missingSummary(skipped, required);
}
