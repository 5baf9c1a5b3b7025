// writeTables without a kernel: against recording stand-ins for BpfMap it must write maps in
// TABLE_WRITE_ORDER (backends first, services last), in batches of the asked size, every row
// exactly once, and refuse a map whose key/value sizes are not the layouts'.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BpfMap } from '../../src/loader/index.ts';
import { writeTables } from '../../src/sinks/kernel-tables.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { MAPS, TABLE_WRITE_ORDER, type MapName } from '../../src/tables/layouts.ts';
import { modelOf, serviceYaml } from '../helpers/policy-harness.ts';

interface Call {
  map: string;
  rows: number;
}

function recordingMaps(sizes: Partial<Record<MapName, { key: number; value: number }>> = {}) {
  const calls: Call[] = [];
  const written = new Map<string, Set<string>>();
  const maps = {
    map(name: string): BpfMap {
      const spec = MAPS[name as MapName];
      const size = sizes[name as MapName] ?? { key: spec.key.size, value: spec.value.size };
      return {
        name,
        keySize: size.key,
        valueSize: size.value,
        updateBatch(entries: ReadonlyArray<readonly [Uint8Array, Uint8Array]>) {
          calls.push({ map: name, rows: entries.length });
          const seen = written.get(name) ?? new Set<string>();
          for (const [key] of entries) seen.add(Buffer.from(key).toString('hex'));
          written.set(name, seen);
          return entries.length;
        },
      } as unknown as BpfMap;
    },
  };
  return { maps, calls, written };
}

const yaml = [
  serviceYaml('web', Array.from({ length: 30 }, (_, i) => ({ ip: `10.1.0.${i + 1}` })), {}, { 'meshc.io/lb-algorithm': 'maglev' }),
  serviceYaml('api', [{ ip: '10.2.0.1' }, { ip: '10.2.0.2', ready: false, serving: true, terminating: true }]),
].join('---\n');

const tables = suite('kernel-tables: writeTables');

tables('writes every row once, map by map in TABLE_WRITE_ORDER, in batches', () => {
  const compiled = compileTables(modelOf(yaml));
  const { maps, calls, written } = recordingMaps();
  const stats = writeTables(maps, compiled, { batchSize: 100 });
  assert.equal(stats.map((s) => s.map), TABLE_WRITE_ORDER);
  const order = [...new Set(calls.map((c) => c.map))];
  assert.equal(order, TABLE_WRITE_ORDER.filter((m) => compiled.rows.get(m)!.size > 0));
  assert.ok(calls.every((c) => c.rows <= 100), 'no batch larger than asked');
  assert.ok(calls.filter((c) => c.map === 'mc_maglev').length >= 11, 'the 1021-row ring goes in several batches');
  for (const name of TABLE_WRITE_ORDER) {
    const rows = compiled.rows.get(name)!;
    assert.is(written.get(name)?.size ?? 0, rows.size, `${name}: every row written`);
    assert.is(stats.find((s) => s.map === name)!.rows, rows.size);
  }
});

tables('a map built from other layouts is refused by name', () => {
  const compiled = compileTables(modelOf(yaml));
  const { maps, calls } = recordingMaps({ mc_slots: { key: 8, value: 8 } });
  assert.throws(() => writeTables(maps, compiled), /map mc_slots: key\/value size 8\/8 bytes in the kernel, 8\/4 in src\/tables\/layouts\.ts/);
  assert.ok(calls.every((c) => c.map === 'mc_backends'), 'nothing after the bad map was written');
});

tables('a failing batch names the map and the row', () => {
  const compiled = compileTables(modelOf(yaml));
  const { maps } = recordingMaps();
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
  assert.throws(() => writeTables(failing, compiled), /map mc_services: write tables \(row 1, key [0-9a-f]{40}\): map mc_services: update batch: E2BIG/);
});

tables.run();
