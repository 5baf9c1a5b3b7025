// The kernel sink without a kernel: against in-memory stand-ins for BpfMap it must write maps in
// TABLE_WRITE_ORDER (backends first, services last), in batches of the asked size, every row
// exactly once; refuse a map whose key/value sizes are not the layouts'; remove an array map's
// rows by writing zeroes and a hash map's by deleting; and read back what it wrote.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BpfMap } from '../../src/loader/index.ts';
import { applyTables, writeTables } from '../../src/sinks/apply.ts';
import { KernelSink } from '../../src/sinks/kernel.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { hex } from '../../src/tables/codec.ts';
import { MAPS, TABLE_WRITE_ORDER, type MapName } from '../../src/tables/layouts.ts';
import { modelOf, serviceYaml } from '../helpers/policy-harness.ts';

interface Call {
  map: string;
  op: 'update' | 'delete';
  rows: number;
}

/** Maps that keep what is written to them (an array map starts with every key at zero). */
function memoryMaps(sizes: Partial<Record<MapName, { key: number; value: number }>> = {}) {
  const calls: Call[] = [];
  const contents = new Map<string, Map<string, [Buffer, Buffer]>>();
  const maps = {
    map(name: string): BpfMap {
      const spec = MAPS[name as MapName];
      const size = sizes[name as MapName] ?? { key: spec.key.size, value: spec.value.size };
      const held = contents.get(name) ?? new Map<string, [Buffer, Buffer]>();
      contents.set(name, held);
      return {
        name,
        keySize: size.key,
        valueSize: size.value,
        updateBatch(entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>) {
          calls.push({ map: name, op: 'update', rows: entries.length });
          for (const [key, value] of entries) held.set(hex(key), [Buffer.from(key), Buffer.from(value)]);
          return entries.length;
        },
        deleteBatch(keys: ReadonlyArray<Uint8Array>) {
          calls.push({ map: name, op: 'delete', rows: keys.length });
          let deleted = 0;
          for (const key of keys) if (held.delete(hex(key))) deleted++;
          return deleted;
        },
        entries() {
          return [...held.values()];
        },
      } as unknown as BpfMap;
    },
  };
  return { maps, calls, contents };
}

const yaml = [
  serviceYaml('web', Array.from({ length: 30 }, (_, i) => ({ ip: `10.1.0.${i + 1}` })), {}, { 'meshc.io/lb-algorithm': 'maglev' }),
  serviceYaml('api', [{ ip: '10.2.0.1' }, { ip: '10.2.0.2', ready: false, serving: true, terminating: true }]),
].join('---\n');

const tables = suite('kernel sink');

tables('writes every row once, map by map in TABLE_WRITE_ORDER, in batches', () => {
  const compiled = compileTables(modelOf(yaml));
  const { maps, calls, contents } = memoryMaps();
  const stats = writeTables(new KernelSink(maps, { batchSize: 100 }), compiled);
  const order = [...new Set(calls.map((c) => c.map))];
  assert.equal(order, TABLE_WRITE_ORDER.filter((m) => compiled.rows.get(m)!.size > 0));
  assert.ok(calls.every((c) => c.op === 'update' && c.rows <= 100), 'only updates, no batch larger than asked');
  assert.ok(calls.filter((c) => c.map === 'mc_maglev').length >= 11, 'the 1021-row ring goes in several batches');
  for (const name of TABLE_WRITE_ORDER) {
    const rows = compiled.rows.get(name)!;
    assert.is(contents.get(name)?.size ?? 0, rows.size, `${name}: every row written`);
    assert.is(stats.written[name] ?? 0, rows.size);
    assert.is(calls.filter((c) => c.map === name).reduce((n, c) => n + c.rows, 0), rows.size, `${name}: each row once`);
  }
});

tables('reads back the rows it wrote', () => {
  const compiled = compileTables(modelOf(yaml));
  const { maps } = memoryMaps();
  const sink = new KernelSink(maps);
  writeTables(sink, compiled);
  const state = sink.readState();
  for (const name of TABLE_WRITE_ORDER) {
    assert.equal(new Set(state.get(name)!.keys()), new Set(compiled.rows.get(name)!.keys()), `${name}: keys`);
    for (const [key, row] of compiled.rows.get(name)!) assert.equal(state.get(name)!.get(key)!.value, row.value, `${name} ${key}`);
  }
});

tables('removal: an array map gets zero values (read back as no row), a hash map deletes', () => {
  const before = compileTables(modelOf(yaml));
  const after = compileTables(modelOf(serviceYaml('api', [{ ip: '10.2.0.1' }])));
  const { maps, calls, contents } = memoryMaps();
  const sink = new KernelSink(maps);
  writeTables(sink, before);
  calls.length = 0;
  applyTables(sink, sink.readState(), after.rows);
  assert.ok(calls.some((c) => c.map === 'mc_backends' && c.op === 'update'), 'mc_backends (array): removal is a write');
  assert.not.ok(calls.some((c) => c.map === 'mc_backends' && c.op === 'delete'), 'mc_backends (array): nothing deleted');
  assert.ok(calls.some((c) => c.map === 'mc_maglev' && c.op === 'delete'), 'mc_maglev (hash): removal deletes');
  const zero = Buffer.alloc(MAPS.mc_backends.value.size);
  const zeroed = [...contents.get('mc_backends')!.values()].filter(([, value]) => value.equals(zero));
  assert.is(zeroed.length, before.backends.size - after.backends.size, 'removed backends hold zeroes');
  assert.is(contents.get('mc_maglev')!.size, after.rows.get('mc_maglev')!.size);
  const state = sink.readState();
  for (const name of TABLE_WRITE_ORDER) assert.equal(new Set(state.get(name)!.keys()), new Set(after.rows.get(name)!.keys()), `${name}: read back`);
});

tables('a map built from other layouts is refused by name', () => {
  const compiled = compileTables(modelOf(yaml));
  const { maps, calls } = memoryMaps({ mc_slots: { key: 8, value: 8 } });
  assert.throws(() => writeTables(new KernelSink(maps), compiled), /map mc_slots: key\/value size 8\/8 bytes in the kernel, 8\/4 in src\/tables\/layouts\.ts/);
  assert.ok(calls.every((c) => c.map === 'mc_backends'), 'nothing after the bad map was written');
});

tables('a failing batch names the map and the row', () => {
  const compiled = compileTables(modelOf(yaml));
  const { maps } = memoryMaps();
  const failing = {
    map(name: string): BpfMap {
      const map = maps.map(name);
      if (name !== 'mc_services') return map;
      return Object.assign(Object.create(map) as BpfMap, {
        updateBatch() {
          throw Object.assign(new Error('map mc_services: update batch: E2BIG'), { processed: 1 });
        },
      });
    },
  };
  const rows = [...compiled.rows.get('mc_services')!.values()];
  assert.throws(() => new KernelSink(failing).write('mc_services', rows), /map mc_services: write tables \(row 1, key [0-9a-f]{40}\): map mc_services: update batch: E2BIG/);
  // A whole load names the services that did not go in, with the map's error.
  assert.throws(() => writeTables(new KernelSink(failing), compiled), /services did not fit the maps: map mc_services: write tables.*E2BIG/);
});

tables.run();
