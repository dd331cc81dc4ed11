// YAML request bodies off the event loop: a small one is parsed inline (quicker than a hand-off),
// a larger one by a worker thread, one at a time, with a deadline after which the worker is
// killed and the request refused. Whatever a body holds, the API server keeps answering. The
// worker lives while there is work (large YAML bodies are rare) and is stopped when the queue
// empties, so it never holds the process open.
import { Worker } from 'node:worker_threads';
import { errors } from '../../api/errors.js';
import { parseFirstDocument, YamlError } from './yaml-parse.js';

/** Bodies up to this size are parsed inline: far below a millisecond for real manifests. */
export const INLINE_YAML_BYTES = 16 * 1024;
/** How long a worker may take over one body before it is killed. */
export const YAML_DEADLINE_MS = 10_000;

interface Job {
  id: number;
  text: string;
  resolve(value: unknown): void;
  reject(e: unknown): void;
}

function yamlError(message: string, line?: number): Error {
  return errors.badRequest(`the request body is not valid YAML${line ? ` (line ${line})` : ''}: ${message}`);
}

class YamlWorker {
  private worker?: Worker;
  private readonly queue: Job[] = [];
  private running?: { job: Job; timer: NodeJS.Timeout };
  private nextId = 1;

  parse(text: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, text, resolve, reject });
      this.pump();
    });
  }

  private start(): Worker {
    // Not the test runner's or the daemon's flags: the worker only parses.
    const worker = new Worker(new URL('./yaml-worker.js', import.meta.url), { execArgv: [] });
    worker.on('message', (m: { id: number; json?: string; error?: string; line?: number; shape?: string }) => {
      const running = this.running;
      if (!running || running.job.id !== m.id) return;
      this.finish();
      if (m.shape !== undefined) running.job.reject(errors.badRequest(m.shape));
      else if (m.error !== undefined) running.job.reject(yamlError(m.error, m.line));
      else running.job.resolve(JSON.parse(m.json!));
    });
    // Only the current worker's end fails the running job: one stopped on purpose is let go first.
    worker.on('error', (e) => {
      if (this.worker === worker) this.fail(e);
    });
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.fail(new Error('the YAML worker stopped'));
    });
    return worker;
  }

  private pump(): void {
    if (this.running || !this.queue.length) return;
    const job = this.queue.shift()!;
    this.worker ??= this.start();
    const worker = this.worker;
    const timer = setTimeout(() => {
      this.finish();
      this.worker = undefined;
      void worker.terminate();
      job.reject(errors.badRequest(`the YAML request body took more than ${YAML_DEADLINE_MS / 1000} s to parse; send it as JSON, or split it`));
    }, YAML_DEADLINE_MS);
    this.running = { job, timer };
    worker.postMessage({ id: job.id, text: job.text });
  }

  private finish(): void {
    if (this.running) clearTimeout(this.running.timer);
    this.running = undefined;
    if (this.queue.length) setImmediate(() => this.pump());
    else if (this.worker) {
      void this.worker.terminate();
      this.worker = undefined;
    }
  }

  private fail(e: Error): void {
    const running = this.running;
    if (!running) return;
    this.finish();
    running.job.reject(errors.internal(`parsing the YAML body: ${e.message}`, e));
  }
}

const shared = new YamlWorker();

/** The first YAML document of `text`; a 400 naming the line for bad YAML. */
export async function parseYamlBody(text: string): Promise<unknown> {
  if (Buffer.byteLength(text) > INLINE_YAML_BYTES) return shared.parse(text);
  try {
    return parseFirstDocument(text);
  } catch (e) {
    if (e instanceof YamlError) throw yamlError(e.message, e.line);
    throw yamlError((e as Error).message);
  }
}
