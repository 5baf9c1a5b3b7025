// Applies a new set of table rows over the rows a sink holds now, writing only what changed, in
// an order that never lets a concurrent connect() see a half-written service:
//   1. new and changed backends, 2. rows of new backend tables (slots, members, Maglev ring),
//   3. new weighted group sets, 4. services: the one write per service that switches it over,
//   then removals in reverse: services, group sets, table rows, backends.
// Backend tables and group sets are content-addressed (src/tables/ids.ts): a changed backend set
// is a new table written beside the old one, so step 4 swaps a service's whole set at once.
// If a write fails, the rows this apply added are removed again and the error is rethrown: the
// sink is left with its last good state.
import { MAPS, TABLE_WRITE_ORDER, type MapName } from '../tables/layouts.ts';
import type { MapRows, TableRow } from '../tables/compile.ts';
import { hex } from '../tables/codec.ts';

/** Where rows go: BPF maps on a node, or policy.wasm in a simulation. */
export interface MapWriter {
  /** Writes rows of one map; may batch. */
  update(map: MapName, rows: TableRow[]): void;
  /** Removes rows of one map (array maps: writes zeroes). */
  remove(map: MapName, rows: TableRow[]): void;
}

export type TableState = Map<MapName, MapRows>;

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
 * Brings `writer` from `current` to `desired` and returns the new current state. `current` must
 * be what the writer holds (the agent reads it back from pinned maps after a restart).
 */
export function applyTables(writer: MapWriter, current: TableState, desired: TableState): { state: TableState; stats: ApplyStats } {
  const { upserts, removals } = diffTables(current, desired);
  const stats: ApplyStats = { written: {}, removed: {}, servicesChanged: upserts.get('mc_services')!.length };
  const attempted: MapName[] = [];
  try {
    for (const name of TABLE_WRITE_ORDER) {
      const rows = upserts.get(name)!;
      if (rows.length === 0) continue;
      attempted.push(name);
      writer.update(name, rows);
      stats.written[name] = rows.length;
    }
  } catch (error) {
    rollBack(writer, current, upserts, attempted);
    throw error;
  }
  for (const name of [...TABLE_WRITE_ORDER].reverse()) {
    const rows = removals.get(name)!;
    if (rows.length === 0) continue;
    writer.remove(name, rows);
    stats.removed[name] = rows.length;
  }
  return { state: desired, stats };
}

/**
 * Undoes a failed apply, last map first: rows that existed get their old bytes back (so a
 * service points at its old table again before that table's new neighbours go), new rows go.
 */
function rollBack(writer: MapWriter, current: TableState, upserts: Map<MapName, TableRow[]>, attempted: MapName[]): void {
  for (const name of [...attempted].reverse()) {
    const have = current.get(name) ?? new Map<string, TableRow>();
    const rows = upserts.get(name)!;
    const restore = rows.flatMap((row) => {
      const old = have.get(hex(row.key));
      return old ? [old] : [];
    });
    const fresh = rows.filter((row) => !have.has(hex(row.key)));
    if (restore.length > 0) writer.update(name, restore);
    if (fresh.length > 0) writer.remove(name, fresh);
  }
}

/** Zero value of an array map's row, which is how an array map "deletes". */
export function zeroRow(map: MapName, row: TableRow): TableRow {
  return { key: row.key, value: new Uint8Array(MAPS[map].value.size) };
}
