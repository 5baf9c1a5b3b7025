// The kernel maps when a change is large next to their size (issue 11 item 4): a change whose old
// and new rows do not fit at once goes in steps that each fit; what cannot fit at all is reported
// by service and the rest is applied; frontends that go free their ids before new ones take any.
// Real maps, loaded from build/meshc.bpf.o and pinned in a directory of the test's own; nothing
// is attached.
import * as assert from 'uvu/assert';
import path from 'node:path';
import { loadObject, type BpfObject } from '../../src/loader/index.ts';
import { KernelSink } from '../../src/sinks/kernel.ts';
import { applyTables, emptyState } from '../../src/sinks/apply.ts';
import type { TableState } from '../../src/sinks/sink.ts';
import { compileTables, type CompiledTables } from '../../src/tables/compile.ts';
import { TableIds } from '../../src/tables/ids.ts';
import { encode, hex, netPort } from '../../src/tables/codec.ts';
import * as L from '../../src/tables/layouts.ts';
import { adoptIds } from '../../src/agent/adopt.ts';
import { kernelSkipReason, kernelSuite, makePinDir, removePinDir, ROOT } from '../kernel/env.ts';
import { modelOf, serviceYaml } from '../helpers/policy-harness.ts';

const OBJECT = path.join(ROOT, 'build', 'meshc.bpf.o');

/** `count` Maglev Services from `first`, two endpoints each; `generation` picks their addresses. */
function maglevWorld(count: number, generation: number, first = 0): string {
  return Array.from({ length: count }, (_, i) => {
    const s = first + i;
    const endpoints = [0, 1].map((e) => ({ ip: `10.${generation * 2 + e}.${s >> 8}.${s & 255}` }));
    return serviceYaml(`svc${s}`, endpoints, { clusterIP: `10.96.${s >> 8}.${s & 255}` }, { 'meshc.io/lb-algorithm': 'maglev' });
  }).join('---\n');
}

/** The maps hold exactly `state` (hash maps compared row for row; array maps by the rows given). */
function assertMapsHold(sink: KernelSink, state: TableState): void {
  const read = sink.readState();
  for (const name of L.TABLE_WRITE_ORDER) {
    const want = state.get(name)!;
    const have = read.get(name)!;
    assert.is(have.size, want.size, `${name}: ${have.size} rows in the map, ${want.size} expected`);
    for (const [key, row] of want) {
      const got = have.get(key);
      if (!got || hex(got.value) !== hex(row.value)) assert.unreachable(`${name}: row ${key} is not what the state says`);
    }
  }
}

kernelSuite('kernel maps: changes larger than the maps hold twice', kernelSkipReason(), (test) => {
  let pin: string;
  let obj: BpfObject;
  let sink: KernelSink;

  test.before(() => {
    pin = makePinDir('capacity');
    obj = loadObject(OBJECT, { pinRoot: pin });
    sink = new KernelSink(obj);
  });
  test.after(() => {
    obj?.close();
    removePinDir(pin);
  });

  let ids: TableIds;
  let state: TableState;
  let tables: CompiledTables;

  test('600 Maglev Services whose endpoints all change: applied in steps that fit, nothing left over', () => {
    ids = new TableIds();
    tables = compileTables(modelOf(maglevWorld(600, 1)), { ids });
    state = applyTables(sink, emptyState(), tables.rows).state;
    assert.is(state.get('mc_maglev')!.size, 600 * L.MAGLEV_RING);
    const next = compileTables(modelOf(maglevWorld(600, 2)), { ids });
    const result = applyTables(sink, state, next.rows);
    assert.equal(result.stats.failed, []);
    assert.ok(result.stats.steps >= 2, `${result.stats.steps} steps: old and new rings (1,225,200 rows) cannot be in 1,048,576 at once`);
    assert.is(result.stats.servicesChanged, 600);
    assertMapsHold(sink, next.rows);
    state = result.state;
    tables = next;
  });

  test('what truly cannot fit is reported by service, and the rest is applied', () => {
    // 600 changed and 430 new rings: 1,030 tables of 1,021 rows, 1,027 fit.
    const yaml = `${maglevWorld(600, 3)}---\n${maglevWorld(430, 3, 600)}`;
    const next = compileTables(modelOf(yaml), { ids });
    const result = applyTables(sink, state, next.rows);
    assert.is(result.stats.failed.length, 3, JSON.stringify(result.stats.failed.slice(0, 5)));
    const names = new Map(next.frontends.map((f) => [hex(f.keyBytes), f.service.meta.name]));
    for (const f of result.stats.failed) {
      assert.ok(Number(names.get(f.service!)!.slice('svc'.length)) >= 600, `only new services fail: ${names.get(f.service!)}`);
      assert.not.ok(f.kept, 'a new service has no previous row');
      assert.match(f.reason, /map mc_maglev is full: needs 1021 more rows, \d+ of 1048576 free/);
    }
    assert.is(result.stats.servicesChanged, 1027);
    assertMapsHold(sink, result.state);
    const held = result.state.get('mc_services')!;
    for (const f of next.frontends) {
      const failed = result.stats.failed.some((x) => x.service === hex(f.keyBytes));
      assert.is(held.has(hex(f.keyBytes)), !failed, `${f.service.meta.name} in the maps`);
    }
    state = result.state;
  });

  test('after adopting 262,000 frontends, 300 new ones get ids and room: the old ones are freed first', () => {
    // What a restart finds: pinned service rows (written here directly, as a previous agent left them).
    const adopted: TableState = emptyState();
    const table = 1;
    const rows = adopted.get('mc_services')!;
    for (let i = 0; i < 262000; i++) {
      const key = encode(L.ServiceKey, { addr: [(0x0a600000 + i) >>> 0], port: netPort(80), proto: L.IPPROTO.TCP, family: 4 });
      rows.set(hex(key), { key, value: encode(L.ServiceValue, { id: i + 1, table }) });
    }
    const cleared = applyTables(sink, state, emptyState());
    assert.equal(cleared.stats.failed, []);
    const filled = applyTables(sink, emptyState(), adopted);
    assert.equal(filled.stats.failed, []);
    const restarted = new TableIds();
    adoptIds(sink.readState(), restarted);
    const yaml = Array.from({ length: 300 }, (_, s) => serviceYaml(`fresh${s}`, [{ ip: `10.50.${s >> 8}.${s & 255}` }], { clusterIP: `10.97.${s >> 8}.${s & 255}` })).join('---\n');
    const next = compileTables(modelOf(yaml), { ids: restarted });
    assert.ok(next.frontends.every((f) => f.id < 262144), 'ids within the map');
    const result = applyTables(sink, sink.readState(), next.rows);
    assert.equal(result.stats.failed, []);
    assert.is(result.stats.removed.mc_services, 262000);
    assertMapsHold(sink, next.rows);
  });
});
