// Brings a sink from the rows it holds to a new set of table rows, writing only what changed, in
// an order that never lets a concurrent connect() see a half-written service:
//   1. new and changed backends, 2. rows of new backend tables (slots, members, Maglev ring),
//   3. new weighted group sets, 4. services: the one write per service that switches it over,
//   then removals in reverse: services, group sets, table rows, backends.
// Backend tables and group sets are content-addressed (src/tables/ids.ts): a changed backend set
// is a new table written beside the old one, so step 4 swaps a service's whole set at once.
//
// A change whose old and new rows do not fit a map at once (every Maglev ring replaced, say) is
// applied in steps (applyInSteps): services that go are removed first with the rows only they
// held, then the changed and new services in batches that each fit, every batch's old rows freed
// before the next one is written. A service that cannot fit even on its own is left as it was and
// reported (ApplyStats.failed); the others are applied.
// If a write fails, the rows this step added are removed again: the sink is left with its last
// good state for every service. Only an error that is not about room (the maps are gone, say)
// is rethrown.
import { TABLE_WRITE_ORDER, MAPS, type MapName } from '../tables/layouts.ts';
import type { CompiledTables, MapRows, TableRow } from '../tables/compile.ts';
import { hex } from '../tables/codec.ts';
import type { TableSink, TableState } from './sink.ts';
import { References, tokenOf, type RowRef } from './references.ts';

/** A service (frontend) row, or rows no service holds, that an apply could not write. */
export interface ApplyFailure {
  /** Hex of the mc_services key; undefined for rows no service row holds (rules a proxy decides). */
  service?: string;
  /** Whether the sink still holds the service's previous row (a change), or nothing (a new one). */
  kept: boolean;
  reason: string;
}

export interface ApplyStats {
  written: Record<string, number>;
  removed: Record<string, number>;
  /** Services (frontends) whose row was written: added or switched over. */
  servicesChanged: number;
  /** 1 when everything fitted at once; more when the change went in batches that each fit. */
  steps: number;
  failed: ApplyFailure[];
}

export function emptyState(): TableState {
  return new Map(TABLE_WRITE_ORDER.map((name) => [name, new Map()]));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface TableDiff {
  upserts: Map<MapName, TableRow[]>;
  removals: Map<MapName, TableRow[]>;
  /** Upserts whose key the current state has not, per map. */
  added: Map<MapName, number>;
}

export function diffTables(current: TableState, desired: TableState): TableDiff {
  const upserts = new Map<MapName, TableRow[]>();
  const removals = new Map<MapName, TableRow[]>();
  const added = new Map<MapName, number>();
  for (const name of TABLE_WRITE_ORDER) {
    const have: MapRows = current.get(name) ?? new Map();
    const want: MapRows = desired.get(name) ?? new Map();
    const rows: TableRow[] = [];
    let fresh = 0;
    for (const [key, row] of want) {
      const old = have.get(key);
      if (old === undefined) fresh++;
      if (old === undefined || (old !== row && !sameBytes(old.value, row.value))) rows.push(row);
    }
    upserts.set(name, rows);
    added.set(name, fresh);
    const gone: TableRow[] = [];
    for (const [key, row] of have) if (!want.has(key)) gone.push(row);
    removals.set(name, gone);
  }
  return { upserts, removals, added };
}

/** Whether an error says a map had no room (the kernel's and the Wasm maps' E2BIG). */
export function isMapFull(error: unknown): boolean {
  for (let e = error as { message?: string; code?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 'E2BIG' || /E2BIG/.test(e.message ?? '')) return true;
  }
  return false;
}

function newStats(): ApplyStats {
  return { written: {}, removed: {}, servicesChanged: 0, steps: 1, failed: [] };
}

/** How many rows a hash map of the sink can hold; array maps hold every id, so they never fill. */
function capacityOf(sink: TableSink, name: MapName): number {
  if (MAPS[name].kind === 'array') return Infinity;
  return sink.capacity?.(name) ?? Infinity;
}

/**
 * Brings `sink` from `current` to `desired` and returns what the sink holds now: `desired`, unless
 * some services could not be written (stats.failed). `current` must be what the sink holds (the
 * agent reads it back from pinned maps after a restart).
 */
export function applyTables(sink: TableSink, current: TableState, desired: TableState): { state: TableState; stats: ApplyStats } {
  const diff = diffTables(current, desired);
  if (fitsAtOnce(sink, current, diff)) {
    const stats = newStats();
    try {
      applyAtOnce(sink, current, diff, stats);
      sink.commit?.();
      return { state: desired, stats };
    } catch (error) {
      if (!isMapFull(error)) throw error;
      // Rolled back; the maps had less room than they said: go service by service.
    }
  }
  return applyInSteps(sink, current, desired, diff);
}

function fitsAtOnce(sink: TableSink, current: TableState, diff: TableDiff): boolean {
  return TABLE_WRITE_ORDER.every((name) => (current.get(name)?.size ?? 0) + diff.added.get(name)! <= capacityOf(sink, name));
}

/** Writes `upserts` map by map in TABLE_WRITE_ORDER; each map is in `attempted` before its write. */
function writeInOrder(sink: TableSink, upserts: ReadonlyMap<MapName, TableRow[]>, attempted: MapName[], stats?: ApplyStats): void {
  for (const name of TABLE_WRITE_ORDER) {
    const rows = upserts.get(name)!;
    if (rows.length === 0) continue;
    attempted.push(name);
    sink.write(name, rows);
    if (stats) stats.written[name] = rows.length;
  }
}

function applyAtOnce(sink: TableSink, current: TableState, { upserts, removals }: TableDiff, stats: ApplyStats): void {
  const attempted: MapName[] = [];
  try {
    writeInOrder(sink, upserts, attempted, stats);
  } catch (error) {
    rollBack(sink, current, upserts, attempted);
    throw error;
  }
  stats.servicesChanged = upserts.get('mc_services')!.length;
  for (const name of [...TABLE_WRITE_ORDER].reverse()) {
    const rows = removals.get(name)!;
    if (rows.length === 0) continue;
    sink.remove(name, rows);
    stats.removed[name] = rows.length;
  }
}

/**
 * Undoes a failed write, last map first: rows that existed get their old bytes back (so a
 * service points at its old table again before that table's new neighbours go), new rows go.
 */
function rollBack(sink: TableSink, held: TableState, upserts: Map<MapName, TableRow[]>, attempted: MapName[]): void {
  for (const name of [...attempted].reverse()) {
    const have = held.get(name) ?? new Map<string, TableRow>();
    const rows = upserts.get(name)!;
    const restore = rows.flatMap((row) => {
      const old = have.get(hex(row.key));
      return old ? [old] : [];
    });
    const fresh = rows.filter((row) => !have.has(hex(row.key)));
    if (restore.length > 0) sink.write(name, restore);
    if (fresh.length > 0) sink.remove(name, fresh);
  }
}

/** A service row to write (or, without `service`, rows no service holds) and the groups it reads. */
interface Unit {
  service?: string;
  row?: TableRow;
  holds: string[];
}

/** The apply for changes that do not fit at once: see the top of this file. */
function applyInSteps(sink: TableSink, current: TableState, desired: TableState, diff: TableDiff): { state: TableState; stats: ApplyStats } {
  const stats: ApplyStats = { ...newStats(), steps: 0 };
  const held: TableState = new Map(TABLE_WRITE_ORDER.map((name) => [name, new Map(current.get(name) ?? [])]));
  const services = held.get('mc_services')!;
  const before = new References(current);
  const after = new References(desired);
  // How many service rows in the sink hold each group; a group whose count falls to 0 may go.
  const refs = new Map<string, number>();
  const released = new Set<string>();
  const hold = (tokens: readonly string[], by: 1 | -1) => {
    for (const token of tokens) {
      const n = (refs.get(token) ?? 0) + by;
      if (n > 0) refs.set(token, n);
      else {
        refs.delete(token);
        released.add(token);
      }
    }
  };
  const holds = new Map<string, string[]>();
  for (const [key, row] of current.get('mc_services') ?? []) {
    const tokens = before.holds(row.value);
    holds.set(key, tokens);
    hold(tokens, 1);
  }
  // Rows of the old state that the new one has not, by group: they go once no service holds it.
  const leaving = new Map<string, RowRef[]>();
  for (const name of TABLE_WRITE_ORDER) {
    if (name === 'mc_services') continue;
    for (const row of diff.removals.get(name)!) {
      const token = tokenOf(name, row.key);
      const list = leaving.get(token);
      if (list) list.push([name, hex(row.key)]);
      else leaving.set(token, [[name, hex(row.key)]]);
    }
  }
  let changedSink = false;
  const count = (into: Record<string, number>, name: MapName, n: number) => {
    if (n > 0) into[name] = (into[name] ?? 0) + n;
  };
  const collect = (tokens: Iterable<string>) => {
    const free = new Map<MapName, string[]>();
    for (const token of tokens) {
      if (refs.has(token)) continue;
      for (const [map, key] of leaving.get(token) ?? []) (free.get(map) ?? free.set(map, []).get(map)!).push(key);
      leaving.delete(token);
    }
    for (const name of [...TABLE_WRITE_ORDER].reverse()) {
      const keys = free.get(name);
      if (!keys?.length) continue;
      const rows = held.get(name)!;
      sink.remove(name, keys.map((key) => rows.get(key)!));
      for (const key of keys) rows.delete(key);
      count(stats.removed, name, keys.length);
      changedSink = true;
    }
  };

  // 1. Services that go, then whatever only they held.
  const gone = diff.removals.get('mc_services')!;
  if (gone.length > 0) {
    sink.remove('mc_services', gone);
    for (const row of gone) {
      const key = hex(row.key);
      services.delete(key);
      hold(holds.get(key) ?? [], -1);
      holds.delete(key);
    }
    count(stats.removed, 'mc_services', gone.length);
    changedSink = true;
  }
  collect([...leaving.keys()]);
  released.clear();

  // 2. Changed services (their old rows free room once switched), then new ones; rows no service
  // holds (group sets of rules a proxy decides) first, as the all-at-once order has them.
  const rowsToWrite = (token: string) => after.rows(token).filter(([map, key]) => !sameRow(held.get(map)!.get(key), desired.get(map)!.get(key)));
  const units: Unit[] = [];
  const unheld = after.unheld().filter((token) => rowsToWrite(token).length > 0);
  if (unheld.length > 0) units.push({ holds: unheld });
  const upserted = diff.upserts.get('mc_services')!;
  const unit = (row: TableRow): Unit => ({ service: hex(row.key), row, holds: after.holds(row.value) });
  units.push(...upserted.filter((row) => services.has(hex(row.key))).map(unit));
  units.push(...upserted.filter((row) => !services.has(hex(row.key))).map(unit));

  /** Keys `u` would add to each map (rows the sink does not hold yet, nor `batch` adds). */
  const additions = (u: Unit, batch: Map<MapName, Set<string>>): Map<MapName, string[]> => {
    const added = new Map<MapName, string[]>();
    const note = (map: MapName, key: string) => {
      if (held.get(map)!.has(key) || batch.get(map)?.has(key)) return;
      (added.get(map) ?? added.set(map, []).get(map)!).push(key);
    };
    for (const token of u.holds) for (const [map, key] of after.rows(token)) note(map, key);
    if (u.service) note('mc_services', u.service);
    return added;
  };
  /** The first map that `added` (on top of `batch`) would overflow, with what it needs and has free. */
  const overflow = (added: Map<MapName, string[]>, batch: Map<MapName, Set<string>>): string | undefined => {
    for (const [name, keys] of added) {
      const capacity = capacityOf(sink, name);
      const used = held.get(name)!.size + (batch.get(name)?.size ?? 0);
      if (used + keys.length > capacity) return `map ${name} is full: needs ${keys.length} more rows, ${Math.max(0, capacity - used)} of ${capacity} free`;
    }
    return undefined;
  };
  const fail = (u: Unit, reason: string) => {
    stats.failed.push({ service: u.service, kept: u.service !== undefined && services.has(u.service), reason });
  };
  /** Writes one batch, or rolls it back; a failed batch of several is retried one service at a time. */
  const flush = (batch: Unit[]): void => {
    if (batch.length === 0) return;
    const writes = new Map<MapName, MapRows>(TABLE_WRITE_ORDER.map((name) => [name, new Map()]));
    for (const u of batch) {
      for (const token of new Set(u.holds)) for (const [map, key] of rowsToWrite(token)) writes.get(map)!.set(key, desired.get(map)!.get(key)!);
      if (u.row) writes.get('mc_services')!.set(u.service!, u.row);
    }
    const upserts = new Map<MapName, TableRow[]>([...writes].map(([name, rows]) => [name, [...rows.values()]]));
    const attempted: MapName[] = [];
    try {
      writeInOrder(sink, upserts, attempted);
    } catch (error) {
      rollBack(sink, held, upserts, attempted);
      if (!isMapFull(error)) throw error;
      if (batch.length > 1) for (const u of batch) flush([u]);
      else fail(batch[0]!, (error as Error).message);
      return;
    }
    stats.steps++;
    changedSink = true;
    for (const [name, rows] of writes) {
      for (const [key, row] of rows) held.get(name)!.set(key, row);
      count(stats.written, name, rows.size);
    }
    for (const u of batch) {
      hold(u.holds, 1);
      if (!u.service) continue;
      hold(holds.get(u.service) ?? [], -1);
      holds.set(u.service, u.holds);
      stats.servicesChanged++;
    }
    collect([...released]);
    released.clear();
  };

  const none = new Map<MapName, Set<string>>();
  let batch: Unit[] = [];
  let adding = new Map<MapName, Set<string>>();
  const retry: Unit[] = [];
  for (const u of units) {
    let added = additions(u, adding);
    if (overflow(added, adding) !== undefined) {
      flush(batch);
      batch = [];
      adding = new Map();
      added = additions(u, none);
      const full = overflow(added, none);
      if (full !== undefined) {
        if (u.service === undefined) retry.push(u);
        else fail(u, full);
        continue;
      }
    }
    batch.push(u);
    for (const [map, keys] of added) {
      const set = adding.get(map) ?? adding.set(map, new Set()).get(map)!;
      for (const key of keys) set.add(key);
    }
  }
  flush(batch);
  for (const u of retry) {
    const full = overflow(additions(u, none), none);
    if (full === undefined) flush([u]);
    else fail(u, full);
  }
  if (changedSink) sink.commit?.();
  return { state: held, stats };
}

function sameRow(a: TableRow | undefined, b: TableRow | undefined): boolean {
  return a !== undefined && b !== undefined && (a === b || sameBytes(a.value, b.value));
}

/** Writes every row of `tables` into a sink that holds none yet (a fresh load), in the same order. */
export function writeTables(sink: TableSink, tables: CompiledTables): ApplyStats {
  const { stats } = applyTables(sink, emptyState(), tables.rows);
  if (stats.failed.length > 0) throw new Error(`${stats.failed.length} services did not fit the maps: ${stats.failed[0]!.reason}`);
  return stats;
}
