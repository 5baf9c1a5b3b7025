import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { applyTables, diffTables, emptyState } from '../../src/sinks/apply.ts';
import type { TableSink, TableState } from '../../src/sinks/sink.ts';
import { WasmSink } from '../../src/sinks/wasm.ts';
import { compileTables, type CompiledTables } from '../../src/tables/compile.ts';
import { TableIds } from '../../src/tables/ids.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { decode, hex } from '../../src/tables/codec.ts';
import * as L from '../../src/tables/layouts.ts';
import type { MapName } from '../../src/tables/layouts.ts';
import type { TableRow } from '../../src/tables/compile.ts';
import { addressOf, modelOf, randoms, serviceYaml } from '../helpers/policy-harness.ts';

type Op = { op: 'write' | 'remove'; map: MapName; count: number };

class RecordingSink implements TableSink {
  ops: Op[] = [];
  /** How many ops there were when commit() came, if it came. */
  committedAfter: number | undefined;
  failOn: MapName | undefined;
  error = 'E2BIG (injected)';
  write(map: MapName, rows: readonly TableRow[]) {
    this.ops.push({ op: 'write', map, count: rows.length });
    if (map === this.failOn) throw new Error(`map ${map}: update: ${this.error}`);
  }
  remove(map: MapName, rows: readonly TableRow[]) { this.ops.push({ op: 'remove', map, count: rows.length }); }
  commit() { this.committedAfter = this.ops.length; }
}

function world(endpointsPerService: number[][], algorithm = 'random'): string {
  return endpointsPerService
    .map((ips, s) => serviceYaml(`svc${s}`, ips.map((i) => ({ ip: `10.${s}.0.${i}` })), {}, { 'meshc.io/lb-algorithm': algorithm }))
    .join('---\n');
}

const compile = (yaml: string, ids: TableIds) => compileTables(modelOf(yaml), { ids });

const order = suite('apply: what is written, and in which order');

order('from empty: backends, table rows, then services, then one commit', () => {
  const w = new RecordingSink();
  applyTables(w, emptyState(), compile(world([[1, 2], [3]]), new TableIds()).rows);
  assert.equal(w.ops.map((o) => o.map), ['mc_backends', 'mc_slots', 'mc_members', 'mc_services']);
  assert.is(w.committedAfter, 4);
});

order('an unchanged model writes nothing', () => {
  const ids = new TableIds();
  const first = compile(world([[1, 2], [3]]), ids);
  const second = compile(world([[1, 2], [3]]), ids);
  const diff = diffTables(first.rows, second.rows);
  for (const rows of [...diff.upserts.values(), ...diff.removals.values()]) assert.is(rows.length, 0);
});

order('one changed endpoint rewrites one service, adds its new table, removes the old one last', () => {
  const ids = new TableIds();
  const services = Array.from({ length: 10 }, () => [1, 2, 3]);
  const before = compile(world(services), ids);
  const changed = services.map((s, i) => (i === 4 ? [1, 2, 4] : s));
  const after = compile(world(changed), ids);
  const w = new RecordingSink();
  const { stats } = applyTables(w, before.rows, after.rows);
  assert.is(stats.servicesChanged, 1);
  assert.equal(stats.written, { mc_backends: 1, mc_slots: 3, mc_members: 3, mc_services: 1 });
  assert.equal(stats.removed, { mc_members: 3, mc_slots: 3, mc_backends: 1 });
  assert.equal(w.ops.map((o) => `${o.op} ${o.map}`), [
    'write mc_backends', 'write mc_slots', 'write mc_members', 'write mc_services',
    'remove mc_members', 'remove mc_slots', 'remove mc_backends',
  ]);
  assert.is(w.committedAfter, 7, 'commit after the removals');
});

order('a write that finds a map full is rolled back, last map first, retried on its own, and reported', () => {
  const ids = new TableIds();
  const before = compile(world([[1, 2, 3]]), ids);
  const after = compile(world([[1, 2, 4]]), ids);
  const w = new RecordingSink();
  w.failOn = 'mc_members';
  const { state, stats } = applyTables(w, before.rows, after.rows);
  const attempt = ['write mc_backends', 'write mc_slots', 'write mc_members', 'remove mc_members', 'remove mc_slots', 'remove mc_backends'];
  assert.equal(w.ops.map((o) => `${o.op} ${o.map}`), [...attempt, ...attempt], 'all at once, then the service on its own');
  assert.is(w.committedAfter, undefined, 'nothing changed: no commit');
  assert.is(stats.failed.length, 1);
  assert.equal(stats.failed[0]!.service, hex(after.frontends[0]!.keyBytes));
  assert.ok(stats.failed[0]!.kept, 'the service keeps its previous row');
  assert.match(stats.failed[0]!.reason, /mc_members: update: E2BIG \(injected\)/);
  assert.is(stats.servicesChanged, 0);
  for (const [map, rows] of before.rows) assert.equal([...state.get(map)!.keys()], [...rows.keys()], `${map}: the sink holds what it held`);
});

order('an error that is not about room is rolled back and thrown', () => {
  const ids = new TableIds();
  const before = compile(world([[1, 2, 3]]), ids);
  const after = compile(world([[1, 2, 4]]), ids);
  const w = new RecordingSink();
  w.failOn = 'mc_members';
  w.error = 'EPERM (injected)';
  assert.throws(() => applyTables(w, before.rows, after.rows), /EPERM \(injected\)/);
  assert.equal(w.ops.map((o) => `${o.op} ${o.map}`), ['write mc_backends', 'write mc_slots', 'write mc_members', 'remove mc_members', 'remove mc_slots', 'remove mc_backends']);
});
order.run();

/**
 * Passes rows to a sink one at a time and runs `check` (every service's decisions) after each,
 * so a check sees every state a concurrent connect() could; writes fail where the test says.
 */
class RowByRowSink implements TableSink {
  /** The write (counted from 0) that fails, once. */
  failOnce = -1;
  /** Rows (hex keys) whose every write fails. */
  poisoned = new Set<string>();
  private written = 0;
  constructor(private readonly sink: TableSink, private readonly check: () => void) {}
  capacity(map: MapName) {
    return this.sink.capacity!(map);
  }
  write(map: MapName, rows: readonly TableRow[]) {
    for (const row of rows) {
      if (this.written++ === this.failOnce || this.poisoned.has(hex(row.key))) throw new Error(`map ${map}: update: E2BIG (injected)`);
      this.sink.write(map, [row]);
      this.check();
    }
  }
  remove(map: MapName, rows: readonly TableRow[]) {
    for (const row of rows) {
      this.sink.remove(map, [row]);
      this.check();
    }
  }
}

function backendSets(tables: CompiledTables): Map<string, Set<string>> {
  return new Map(tables.frontends.map((f) => [f.service.meta.name, new Set(f.pool.slots.map((b) => b.ip))]));
}

const atomic = suite('apply: a concurrent decision never sees a half-written service');

atomic('200 random endpoint changes, decisions after every row write go to the old or the new set', async () => {
  for (const algorithm of ['random', 'maglev', 'round-robin']) {
    const instance = await loadPolicyWasm();
    const sink = new WasmSink(instance);
    const ids = new TableIds();
    const rng = randoms(99);
    const next = () => rng.next().value as number;
    let services = Array.from({ length: 4 }, (_, s) => [1 + s, 2 + s, 3 + s]);
    let tables = compile(world(services, algorithm), ids);
    let state: TableState = applyTables(new RowByRowSink(sink, () => {}), emptyState(), tables.rows).state;
    const wasm = instance.exports;
    let allowed = backendSets(tables);
    let frontends = tables.frontends;
    const violations: string[] = [];
    let checks = 0;
    const check = () => {
      for (const f of frontends) {
        const ptr = wasm.host_scratch(128);
        instance.bytes().set(f.keyBytes, ptr);
        for (let i = 0; i < 4; i++) {
          const verdict = wasm.mc_decide(ptr, BigInt(next()), next(), 0n, ptr + 32);
          const out = decode(L.Decision, instance.bytes().subarray(ptr + 32, ptr + 32 + L.Decision.size));
          checks++;
          const ip = addressOf(out);
          if (verdict !== L.VERDICT.translate) violations.push(`${f.service.meta.name}: refused (${L.REASONS[Number(out.reason)]})`);
          else if (!allowed.get(f.service.meta.name)!.has(ip)) violations.push(`${f.service.meta.name}: ${ip} is in neither set`);
        }
      }
    };
    for (let change = 0; change < 200; change++) {
      const s = next() % services.length;
      const members = new Set(services[s]);
      const ip = 1 + (next() % 12);
      if (members.has(ip) && members.size > 1) members.delete(ip);
      else members.add(ip);
      services = services.map((list, i) => (i === s ? [...members].sort((a, b) => a - b) : list));
      const nextTables = compile(world(services, algorithm), ids);
      const nextSets = backendSets(nextTables);
      allowed = new Map([...allowed].map(([name, set]) => [name, new Set([...set, ...nextSets.get(name)!])]));
      state = applyTables(new RowByRowSink(sink, check), state, nextTables.rows).state;
      tables = nextTables;
      allowed = nextSets;
      frontends = nextTables.frontends;
    }
    assert.ok(checks > 10000, `${checks} checks`);
    assert.equal(violations.slice(0, 5), [], `${algorithm}: ${violations.length} violations`);
  }
});

atomic('a write that fails once is rolled back and retried: every service ends on its new rows', async () => {
  const instance = await loadPolicyWasm();
  const sink = new WasmSink(instance);
  const ids = new TableIds();
  const before = compile(world([[1, 2, 3], [4, 5]]), ids);
  let state = applyTables(new RowByRowSink(sink, () => {}), emptyState(), before.rows).state;
  let previous = before;
  for (let failAt = 0; failAt < 12; failAt++) {
    const next = compile(world([[1, 2, 6 + failAt * 2], [4, 7 + failAt * 2, 8]]), ids);
    const writer = new RowByRowSink(sink, () => {});
    writer.failOnce = failAt;
    const result = applyTables(writer, state, next.rows);
    assert.equal(result.stats.failed, [], `fail at ${failAt}`);
    assert.ok(result.stats.steps >= 1);
    assertHolds(sink, result.state, [previous.rows, next.rows], `fail at ${failAt}`);
    state = result.state;
    previous = next;
  }
});

atomic('a service whose rows keep failing stays on its old rows, reported; the others are applied', async () => {
  const instance = await loadPolicyWasm();
  const sink = new WasmSink(instance);
  const ids = new TableIds();
  const before = compile(world([[1, 2, 3], [4, 5], [6]]), ids);
  const state = applyTables(new RowByRowSink(sink, () => {}), emptyState(), before.rows).state;
  const after = compile(world([[1, 2, 9], [4, 5, 10], [6, 11]]), ids);
  const writer = new RowByRowSink(sink, () => {});
  const poisoned = after.frontends.find((f) => f.service.meta.name === 'svc1')!;
  writer.poisoned = new Set([...after.rows.get('mc_slots')!.values()].filter((row) => decode(L.TableKey, row.key).table === poisoned.pool.table).map((row) => hex(row.key)));
  const { state: held, stats } = applyTables(writer, state, after.rows);
  assert.equal(stats.failed.map((f) => f.service), [hex(poisoned.keyBytes)]);
  assert.ok(stats.failed[0]!.kept);
  assert.is(stats.servicesChanged, 2);
  for (const f of after.frontends) {
    const row = held.get('mc_services')!.get(hex(f.keyBytes))!;
    const expected = f === poisoned ? before.frontends.find((b) => b.service.meta.name === 'svc1')!.keyBytes : f.keyBytes;
    assert.equal(row.key, expected);
    const wanted = f === poisoned ? before.rows : after.rows;
    assert.equal(row.value, wanted.get('mc_services')!.get(hex(f.keyBytes))!.value, `${f.service.meta.name}`);
  }
  assertHolds(sink, held, [before.rows, after.rows], 'poisoned svc1');
});

/** The sink holds exactly `state`: its rows, and none of the other rows `seen` (hash maps). */
function assertHolds(sink: WasmSink, state: TableState, seen: TableState[], label: string): void {
  for (const [map, rows] of state) {
    for (const row of rows.values()) assert.equal(sink.lookup(map, row.key), row.value, `${map} row held (${label})`);
  }
  for (const other of seen) {
    for (const [map, rows] of other) {
      if (L.MAPS[map].kind === 'array') continue;
      for (const [key, row] of rows) if (!state.get(map)!.has(key)) assert.is(sink.lookup(map, row.key), undefined, `${map} row not held is gone (${label})`);
    }
  }
}
atomic.run();

const restart = suite('apply: a restarted agent adopts the state it finds');

restart('ids are adopted: no backend is rewritten, services switch atomically to fresh revisions', async () => {
  const { adoptIds } = await import('../../src/agent/adopt.ts');
  const instance = await loadPolicyWasm();
  const sink = new WasmSink(instance);
  const yaml = world([[1, 2, 3], [4, 5], [6]]);
  const before = compile(yaml, new TableIds());
  const state = applyTables(new RowByRowSink(sink, () => {}), emptyState(), before.rows).state;
  const ids = new TableIds();
  adoptIds(state, ids);
  const after = compile(yaml.replace('10.1.0.5', '10.1.0.9'), ids);
  for (const f of after.frontends) {
    const old = before.frontends.find((b) => b.vip === f.vip)!;
    assert.is(f.id, old.id, 'service id kept');
    assert.ok(f.pool.table > Math.max(...before.frontends.map((b) => b.pool.table)), 'fresh table revision');
  }
  const diff = diffTables(state, after.rows);
  assert.is(diff.upserts.get('mc_backends')!.length, 1, 'only the new backend is written');
  assert.is(diff.removals.get('mc_backends')!.length, 1, 'only the gone backend is removed');
  const sets = new Map(after.frontends.map((f) => [f.vip, new Set([...before.frontends.find((b) => b.vip === f.vip)!.pool.slots, ...f.pool.slots].map((b) => b.ip))]));
  const wasm = instance.exports;
  const bad: string[] = [];
  const check = () => {
    for (const f of after.frontends) {
      const ptr = wasm.host_scratch(128);
      instance.bytes().set(f.keyBytes, ptr);
      const verdict = wasm.mc_decide(ptr, 1n, 12345, 0n, ptr + 32);
      const ip = addressOf(decode(L.Decision, instance.bytes().subarray(ptr + 32, ptr + 32 + L.Decision.size)));
      if (verdict !== L.VERDICT.translate || !sets.get(f.vip)!.has(ip)) bad.push(`${f.vip}: ${verdict} ${ip}`);
    }
  };
  applyTables(new RowByRowSink(sink, check), state, after.rows);
  assert.equal(bad, []);
});
restart.run();
