// The TypeScript codec's layouts (src/tables/layouts.ts) against the one declaration in
// assembly/: field names, types, offsets and sizes; maps; and the constants the host uses.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { readLayouts } from '../../src/compiler/index.ts';
import * as L from '../../src/tables/layouts.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const declared = readLayouts('assembly', ROOT);
const test = suite('codec layouts = assembly/ declarations');

test('the declaration reads without problems', () => {
  assert.equal(declared.diagnostics, []);
});

test('every struct the codec knows has the declared fields, types, offsets and size', () => {
  for (const spec of L.STRUCTS) {
    const decl = declared.classes.find((c) => c.name === spec.name);
    assert.ok(decl, `${spec.name} is declared in assembly/layouts.ts`);
    assert.is(spec.size, decl!.size, `${spec.name} size`);
    assert.equal(
      spec.fields.map((f) => `${f.name}:${f.type}@${f.offset}`),
      decl!.fields.map((f) => `${f.name}:${f.type}@${f.offset}`),
      `${spec.name} fields`,
    );
  }
});

test('every declared struct is known to the codec', () => {
  const known = new Set(L.STRUCTS.map((s) => s.name));
  for (const c of declared.classes) assert.ok(known.has(c.name), `${c.name} has a codec layout`);
});

test('maps: names, Wasm ids, kinds, keys and values', () => {
  const kinds: Record<string, L.MapKind> = { HashMap: 'hash', ArrayMap: 'array', LruHashMap: 'lru_hash' };
  assert.equal(declared.maps.map((m) => m.name).sort(), Object.keys(L.MAPS).sort());
  for (const m of declared.maps) {
    const spec = L.MAPS[m.name as L.MapName];
    assert.is(spec.wasmId, m.wasmId, `${m.name} wasm id`);
    assert.is(spec.kind, kinds[m.kind], `${m.name} kind`);
    assert.is(spec.value.name, m.value, `${m.name} value`);
    assert.is(spec.key.size, m.keySize, `${m.name} key size`);
    if (m.key) assert.is(spec.key.name, m.key, `${m.name} key`);
  }
});

test('constants the host relies on', () => {
  const value = (name: string) => declared.constants.find((c) => c.name === name)?.value;
  for (const [name, n] of Object.entries(L.ALGORITHMS)) assert.is(value(`ALG_${name.toUpperCase().replace('-', '_')}`), n, name);
  assert.is(value('SVC_F_AFFINITY'), L.SVC_F.affinity);
  assert.is(value('SVC_F_LOCAL'), L.SVC_F.local);
  assert.is(value('SVC_F_PREFER_ZONE'), L.SVC_F.preferZone);
  assert.is(value('SVC_F_L7'), L.SVC_F.l7);
  assert.is(value('GROUP_F_INVALID'), L.GROUP_F_INVALID);
  assert.is(value('BACKEND_READY'), L.BACKEND_STATE.ready);
  assert.is(value('BACKEND_TERMINATING'), L.BACKEND_STATE.terminating);
  assert.is(value('VERDICT_TRANSLATE'), L.VERDICT.translate);
  assert.is(value('VERDICT_REFUSE'), L.VERDICT.refuse);
  assert.is(value('MAGLEV_RING'), L.MAGLEV_RING);
  assert.is(value('MAX_GROUPS'), L.MAX_GROUPS);
  assert.is(value('REASON_COUNT'), L.REASONS.length);
  L.REASONS.forEach((reason, i) => {
    if (i === 0) return;
    const name = `REASON_${reason.toUpperCase().replaceAll('-', '_')}`;
    assert.is(value(name), i, name);
  });
});

test.run();
