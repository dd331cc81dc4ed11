// The worker thread that parses large YAML request bodies for the API server (yaml-decoder.ts),
// so a slow document never stalls the event loop that answers /healthz and every other request.
// Each message is { id, text }; each answer { id, json } (the first document as JSON text),
// { id, error, line } for bad YAML, or { id, shape } for a document past body-shape.ts's bounds
// (a document far past them is refused from its tokens, before the parser builds it).
import { parentPort } from 'node:worker_threads';
import { shapeProblem, yamlShapeProblem } from './body-shape.js';
import { parseFirstDocument } from './yaml-parse.js';

parentPort?.on('message', ({ id, text }: { id: number; text: string }) => {
  try {
    const tokens = yamlShapeProblem(text);
    if (tokens) return parentPort!.postMessage({ id, shape: tokens });
    const value = parseFirstDocument(text);
    const shape = shapeProblem(value);
    parentPort!.postMessage(shape ? { id, shape } : { id, json: JSON.stringify(value) ?? 'null' });
  } catch (e) {
    parentPort!.postMessage({ id, error: (e as Error).message, line: (e as { line?: number }).line });
  }
});
