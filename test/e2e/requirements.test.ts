// The suites that need an optional component, run the way `npm test` runs them on a machine that
// lacks it: in a network and mount namespace of their own where /var/run/docker.sock is absent and
// chromium, prometheus, promtool and dig are not on PATH. Each suite is skipped as a whole and the
// run passes, listing what it skipped and why; with TUG_TEST_REQUIRE=all the same run fails,
// naming each missing component and its fix.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, statSync, symlinkSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { needs } from '../requirements.js';
import { tempDir } from './harness.js';

const DIST = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const HIDDEN = new Set(['chromium', 'prometheus', 'promtool', 'dig']);
/** Each suite that needs one of the hidden components, with the component it reports. */
const SUITES: [file: string, suite: string, component: string][] = [
  ['node/runtime/docker.test.js', 'DockerRuntime with the real engine', 'docker'],
  ['test/e2e/node-docker.test.js', 'tug node with the docker runtime', 'docker'],
  ['test/e2e/console.test.js', 'the web console in headless Chromium', 'chromium'],
  ['test/e2e/prometheus.test.js', 'Prometheus scraping a tug up cluster', 'prometheus'],
  ['test/e2e/dns.test.js', 'cluster DNS on the node', 'dig'],
];

/** A directory of links to every command on PATH but the hidden ones, to use as the whole PATH. */
function pathWithout(dir: string): string {
  const seen = new Set<string>();
  for (const entry of (process.env.PATH ?? '').split(delimiter)) {
    let names: string[];
    try {
      names = readdirSync(entry);
    } catch {
      continue;
    }
    for (const name of names) {
      if (HIDDEN.has(name) || seen.has(name)) continue;
      seen.add(name);
      try {
        if (statSync(join(entry, name)).isFile()) symlinkSync(join(entry, name), join(dir, name));
      } catch {
        // a dangling link or one that vanished: not a command
      }
    }
  }
  return dir;
}

/** `npm test`'s runner on the given files, in new network and mount namespaces hiding the components. */
function runIsolated(path: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const files = SUITES.map(([file]) => join(DIST, file));
  const script = [
    'set -e',
    'ip link set lo up',
    // A fresh /run hides the Docker socket (/var/run is a link to it) and nothing else the suites use.
    'mount -t tmpfs tugtest /run',
    'exec "$@"',
  ].join('\n');
  const runner = [
    process.execPath, '--expose-internals', '--import', join(DIST, 'test/preload.js'), '--test', '--test-concurrency=1',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${join(DIST, 'test/reporter.js')}`, '--test-reporter-destination=stdout', ...files,
  ];
  // A fresh runner: without NODE_TEST_CONTEXT, which would make it report to this one.
  const { NODE_TEST_CONTEXT: _, TUG_TEST_REQUIRE: __, ...inherited } = process.env;
  return new Promise((res, rej) => {
    const child = spawn('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-c', script, 'isolated', ...runner], {
      env: { ...inherited, PATH: path, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', rej);
    child.on('close', (code) => res({ code, out }));
  });
}

// kubectl too: without it the suites would name it, not the component hidden here.
describe('suites that need a component this machine lacks', { ...(await needs('root', 'kubectl')), timeout: 300_000 }, () => {
  it('are skipped as a whole and listed at the end; the run passes', async (t) => {
    const { code, out } = await runIsolated(pathWithout(tempDir(t)), {});
    assert.equal(code, 0, out);
    const summary = out.slice(out.indexOf('Skipped for a missing component'));
    assert.ok(summary.length < out.length, `no summary of skipped suites:\n${out}`);
    for (const [file, suite, component] of SUITES) {
      assert.match(out, new RegExp(`﹣ ${suite} \\([\\d.]+ms\\) # needs ${component}: `), `${suite} is skipped as a whole, saying why`);
      assert.match(summary, new RegExp(`\\n  ${component}: [^\\n]*; fix: `), `the summary names ${component} and its fix`);
      assert.ok(summary.includes(`- ${suite} (`) && summary.includes(file), `the summary lists ${suite} in ${file}`);
    }
    assert.doesNotMatch(out, /✖/, 'nothing failed');
  });

  it('fail under TUG_TEST_REQUIRE=all, naming each missing component and its fix', async (t) => {
    const { code, out } = await runIsolated(pathWithout(tempDir(t)), { TUG_TEST_REQUIRE: 'all' });
    assert.equal(code, 1, out);
    const summary = out.slice(out.indexOf('Failed for a missing component'));
    assert.ok(summary.length < out.length, `no summary of failed suites:\n${out}`);
    for (const [file, , component] of SUITES) {
      assert.match(summary, new RegExp(`\\n  ${component}: [^\\n]*; fix: `), `the summary names ${component} and its fix`);
      assert.ok(summary.includes(file), `the summary lists ${file}`);
    }
  });
});
