// YAML bodies: small ones inline, large ones in the worker thread, both with the same answers and
// errors; a huge one is parsed and refused while the event loop goes on with other work.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { jsonShapeProblem, MAX_BODY_MEMBERS, shapeProblem, yamlShapeProblem } from './body-shape.js';
import { INLINE_YAML_BYTES, parseYamlBody } from './yaml-decoder.js';

function configMap(keys: number): string {
  let text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n';
  for (let i = 0; i < keys; i++) text += `  k${i}: v${i}\n`;
  return text;
}

describe('YAML request bodies', () => {
  it('parses the first document, inline or in the worker, to the same value', async () => {
    const small = configMap(3);
    assert.ok(small.length < INLINE_YAML_BYTES);
    assert.deepEqual(await parseYamlBody(small), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { k0: 'v0', k1: 'v1', k2: 'v2' } });
    const large = configMap(3000);
    assert.ok(large.length > INLINE_YAML_BYTES);
    const value = (await parseYamlBody(large)) as { data: Record<string, string> };
    assert.equal(Object.keys(value.data).length, 3000);
    assert.equal(value.data.k2999, 'v2999');
    assert.equal(await parseYamlBody(`${small}---\nkind: Second\n`).then((v) => (v as { kind: string }).kind), 'ConfigMap');
  });

  it('says where bad YAML is, either way', async () => {
    await assert.rejects(parseYamlBody('a: [1, 2\nb: 3\n'), (e: Error & { code?: number }) => e.code === 400 && /not valid YAML \(line \d+\)/.test(e.message));
    await assert.rejects(parseYamlBody(`${configMap(2000)}  bad: [1, 2\n`), (e: Error & { code?: number }) => e.code === 400 && /not valid YAML/.test(e.message));
  });

  it('parses a 100,000-key body off the event loop and refuses it there: a small body sent after it is answered first', async () => {
    const order: string[] = [];
    const huge = parseYamlBody(configMap(100_000)).catch((e: Error & { code?: number }) => {
      order.push('huge');
      return e;
    });
    const small = parseYamlBody(configMap(1)).then(() => order.push('small'));
    const [refused] = await Promise.all([huge, small]);
    assert.deepEqual(order, ['small', 'huge']);
    assert.equal((refused as { code?: number }).code, 400);
    assert.match(String(refused), new RegExp(`more than ${MAX_BODY_MEMBERS} keys and list items`));
  });

  it('hands a body within the bounds back whole from the worker', async () => {
    const value = (await parseYamlBody(configMap(MAX_BODY_MEMBERS - 10))) as { data: Record<string, string> };
    assert.equal(Object.keys(value.data).length, MAX_BODY_MEMBERS - 10);
  });
});

describe('the shape of a request body', () => {
  it('counts keys and list items to the bound, and depth to its own', () => {
    assert.equal(shapeProblem({ a: [1, 2, { b: 3 }], c: 'x' }), undefined);
    assert.equal(shapeProblem(Array(MAX_BODY_MEMBERS).fill(0)), undefined);
    assert.match(shapeProblem(Array(MAX_BODY_MEMBERS + 1).fill(0))!, /more than 20000 keys/);
    const wide = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, Object.fromEntries(Array.from({ length: 100 }, (_, j) => [`j${j}`, j]))]));
    assert.match(shapeProblem(wide)!, /keys and list items/, 'counted over nested objects: 200 + 200 × 100');
    let deep: unknown = 1;
    for (let i = 0; i < 600; i++) deep = [deep];
    assert.match(shapeProblem(deep)!, /nested more than 512 levels/);
  });

  it('counts JSON text exactly as the value it parses to, before parsing it', () => {
    const samples: unknown[] = [
      { a: [1, 2, { b: 3 }], c: 'x' },
      [],
      [[], {}, '', 'a,b:c', '[{"', { 'k:,': ['\\"', ']'] }],
      Array(MAX_BODY_MEMBERS).fill({}),
      { data: Object.fromEntries(Array.from({ length: MAX_BODY_MEMBERS - 3 }, (_, i) => [`k${i}`, i])), x: [null, true] },
    ];
    for (const v of samples) {
      for (const text of [JSON.stringify(v), JSON.stringify(v, null, 2)]) assert.equal(jsonShapeProblem(text), shapeProblem(v), text.slice(0, 80));
    }
    assert.match(jsonShapeProblem(JSON.stringify(Array(MAX_BODY_MEMBERS + 1).fill('s')))!, /more than 20000 keys/);
    assert.match(jsonShapeProblem(JSON.stringify({ data: Object.fromEntries(Array.from({ length: MAX_BODY_MEMBERS }, (_, i) => [`k${i}`, 'v'])) }))!, /more than 20000 keys/);
    assert.match(jsonShapeProblem('['.repeat(600))!, /nested more than 512 levels/);
  });

  it('refuses YAML far past the member bound from its tokens, and never a document within it', () => {
    const flowPairs = Object.fromEntries(Array.from({ length: MAX_BODY_MEMBERS - 1 }, (_, i) => [`k${i}`, i]));
    const withinBound: unknown[] = [
      { data: flowPairs },
      Array.from({ length: MAX_BODY_MEMBERS / 2 }, (_, i) => ({ [`k${i}`]: '- a: b, c' })),
      { script: 'a: 1\n- b\n, c\n'.repeat(10_000) },
    ];
    for (const v of withinBound) {
      // Block style, and flow style (JSON text is YAML): the densest in counted tokens.
      for (const text of [YAML.stringify(v), JSON.stringify(v)]) assert.equal(yamlShapeProblem(text), undefined, text.slice(0, 80));
    }
    let block = 'data:\n';
    for (let i = 0; i < 2 * MAX_BODY_MEMBERS + 1; i++) block += `  k${i}: v\n`;
    assert.match(yamlShapeProblem(block)!, /more than 20000 keys/);
    assert.match(yamlShapeProblem(`[${'1,'.repeat(2 * MAX_BODY_MEMBERS + 1)}]`)!, /more than 20000 keys/);
  });
});
