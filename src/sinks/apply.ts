// Brings a sink from the rows it holds to a new set of table rows, writing only what changed, in
// an order that never lets a concurrent connect() see a half-written service:
//   1. new and changed backends, 2. rows of new backend tables (slots, members, Maglev ring),
//   3. new weighted group sets, 4. services: the one write per service that switches it over,
//   then removals in reverse: services, group sets, table rows, backends.
// Backend tables and group sets are content-addressed (src/tables/ids.ts): a changed backend set
// is a new table written beside the old one, so step 4 swaps a service's whole set at once.
// If a write fails, the rows this apply added are removed again and the error is rethrown: the
// sink is left with its last good state.
import { TABLE_WRITE_ORDER, type MapName } from '../tables/layouts.ts';
import type { CompiledTables, TableRow } from '../tables/compile.ts';
import { hex } from '../tables/codec.ts';
import type { TableSink, TableState } from './sink.ts';

export interface ApplyStats {
  written: Record<string, number>;
  removed: Record<string, number>;
  /** Services (frontends) whose row was written: added or switched over. */
  servicesChanged: number;
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
}

export function diffTables(current: TableState, desired: TableState): TableDiff {
  const upserts = new Map<MapName, TableRow[]>();
  const removals = new Map<MapName, TableRow[]>();
  for (const name of TABLE_WRITE_ORDER) {
    const have = current.get(name) ?? new Map();
    const want = desired.get(name) ?? new Map();
    const changed = (key: string, row: TableRow) => {
      const old = have.get(key);
      return old === undefined || (old !== row && !sameBytes(old.value, row.value));
    };
    upserts.set(name, [...want.entries()].filter(([key, row]) => changed(key, row)).map(([, row]) => row));
    removals.set(name, [...have.entries()].filter(([key]) => !want.has(key)).map(([, row]) => row));
  }
  return { upserts, removals };
}

/**
 * Brings `sink` from `current` to `desired` and returns the new current state. `current` must
 * be what the sink holds (the agent reads it back from pinned maps after a restart).
 */
export function applyTables(sink: TableSink, current: TableState, desired: TableState): { state: TableState; stats: ApplyStats } {
  const { upserts, removals } = diffTables(current, desired);
  const stats: ApplyStats = { written: {}, removed: {}, servicesChanged: upserts.get('mc_services')!.length };
  const attempted: MapName[] = [];
  try {
    for (const name of TABLE_WRITE_ORDER) {
      const rows = upserts.get(name)!;
      if (rows.length === 0) continue;
      attempted.push(name);
      sink.write(name, rows);
      stats.written[name] = rows.length;
    }
  } catch (error) {
    rollBack(sink, current, upserts, attempted);
    throw error;
  }
  for (const name of [...TABLE_WRITE_ORDER].reverse()) {
    const rows = removals.get(name)!;
    if (rows.length === 0) continue;
    sink.remove(name, rows);
    stats.removed[name] = rows.length;
  }
  sink.commit?.();
  return { state: desired, stats };
}

/**
 * Undoes a failed apply, last map first: rows that existed get their old bytes back (so a
 * service points at its old table again before that table's new neighbours go), new rows go.
 */
function rollBack(sink: TableSink, current: TableState, upserts: Map<MapName, TableRow[]>, attempted: MapName[]): void {
  for (const name of [...attempted].reverse()) {
    const have = current.get(name) ?? new Map<string, TableRow>();
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

/** Writes every row of `tables` into a sink that holds none yet (a fresh load), in the same order. */
export function writeTables(sink: TableSink, tables: CompiledTables): ApplyStats {
  return applyTables(sink, emptyState(), tables.rows).stats;
}
