// Writes compiled table rows into the kernel's BPF maps (a loaded object's, or pinned ones), in
// TABLE_WRITE_ORDER: backends, then slots/members/maglev, then groups, then services, so that a
// concurrent connect() never finds a service whose rows are not there yet. Each map's rows go
// in batches (BPF_MAP_UPDATE_BATCH; the addon falls back to one update per row where the kernel
// has no batch for the map type). The same rows go to policy.wasm through WasmTables.
import type { BpfMap } from '../loader/index.ts';
import type { CompiledTables, TableRow } from '../tables/compile.ts';
import { MAPS, TABLE_WRITE_ORDER, type MapName } from '../tables/layouts.ts';

/** Where the maps come from: a loaded BpfObject, or anything that hands out maps by name. */
export interface MapSource {
  map(name: string): BpfMap;
}

export interface WriteOptions {
  /** Rows per batch update (default 4096). */
  batchSize?: number;
}

/** Rows written, per map, in the order they were written. */
export type WriteStats = Array<{ map: MapName; rows: number }>;

/** Checks that a kernel map has the key and value sizes the table layouts say. */
export function checkMapLayout(map: BpfMap, name: MapName): void {
  const spec = MAPS[name];
  if (map.keySize !== spec.key.size || map.valueSize !== spec.value.size) {
    throw new Error(
      `map ${name}: key/value size ${map.keySize}/${map.valueSize} bytes in the kernel, ` +
        `${spec.key.size}/${spec.value.size} in src/tables/layouts.ts (${spec.key.name}/${spec.value.name}): ` +
        'the object was built from other layouts; run `meshc compile` again',
    );
  }
}

/** Writes rows into one map, in batches; throws naming the map (and the failing row's key). */
export function writeRows(map: BpfMap, name: MapName, rows: readonly TableRow[], batchSize = 4096): void {
  checkMapLayout(map, name);
  for (let start = 0; start < rows.length; start += batchSize) {
    const chunk = rows.slice(start, start + batchSize);
    try {
      map.updateBatch(chunk.map((row) => [row.key, row.value] as const));
    } catch (err) {
      const processed = (err as { processed?: number }).processed ?? 0;
      const row = chunk[processed];
      const at = row ? ` (row ${start + processed}, key ${Buffer.from(row.key).toString('hex')})` : '';
      throw new Error(`map ${name}: write tables${at}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Writes every row of `tables`; throws naming the map (and the row's key) on failure. */
export function writeTables(maps: MapSource, tables: CompiledTables, options: WriteOptions = {}): WriteStats {
  const stats: WriteStats = [];
  for (const name of TABLE_WRITE_ORDER) {
    const rows = [...(tables.rows.get(name)?.values() ?? [])];
    writeRows(maps.map(name), name, rows, options.batchSize);
    stats.push({ map: name, rows: rows.length });
  }
  return stats;
}

/** Live-connection counts for backends (tests and tools; in production sockops keeps them). */
export function writeConnections(maps: MapSource, counts: ReadonlyMap<number, number>): void {
  const map = maps.map('mc_conns');
  const entries: Array<[Uint8Array, Uint8Array]> = [];
  for (const [backendId, count] of counts) {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(backendId);
    const value = Buffer.alloc(4);
    value.writeUInt32LE(count >>> 0);
    entries.push([key, value]);
  }
  map.updateBatch(entries);
}
