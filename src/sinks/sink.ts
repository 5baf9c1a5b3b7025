// The one shape of every place compiled table rows go: the kernel's BPF maps (kernel.ts),
// policy.wasm's maps (wasm.ts), and next the node proxy's configuration. A sink receives rows of
// one map at a time, in the order apply.ts decides, and the same bytes whatever it is.
import { MAPS, type MapName } from '../tables/layouts.ts';
import type { MapRows, TableRow } from '../tables/compile.ts';

export interface TableSink {
  /** Adds or replaces rows of one map (may batch); a failure throws, naming the map. */
  write(map: MapName, rows: readonly TableRow[]): void;
  /** Removes rows of one map, by key. */
  remove(map: MapName, rows: readonly TableRow[]): void;
  /**
   * The writes and removals of one apply are all in, and in order. A sink that renders a whole
   * configuration at once (the node proxy's) renders here; one that writes each row as it comes
   * (the maps) has none. Not called when a write failed and the apply was rolled back.
   */
  commit?(): void;
  /** How many rows a map holds at most (max_entries); without it, room is found out by writing. */
  capacity?(map: MapName): number;
}

/** The rows a sink holds, per map, keyed by the hex of their key. */
export type TableState = Map<MapName, MapRows>;

/** An array map has every key from 0 to max_entries - 1 and cannot delete one. */
function isArrayMap(map: MapName): boolean {
  return MAPS[map].kind === 'array';
}

/**
 * How a map sink removes `rows` from an array map: by writing each key's zero value. Undefined for
 * the other kinds, which delete.
 */
export function zeroedRows(map: MapName, rows: readonly TableRow[]): TableRow[] | undefined {
  if (!isArrayMap(map)) return undefined;
  const zero = new Uint8Array(MAPS[map].value.size);
  return rows.map((row) => ({ key: row.key, value: zero }));
}

/** Whether a row read back from a map is one that was removed (an array map's zero value). */
export function isRemovedRow(map: MapName, value: Uint8Array): boolean {
  return isArrayMap(map) && value.every((byte) => byte === 0);
}
