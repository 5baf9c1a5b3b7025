// The kernel sink: compiled table rows into a loaded object's BPF maps (or pinned ones), and read
// back from them when an agent restarts. Each map's rows go in batches (BPF_MAP_UPDATE_BATCH; the
// loader falls back to one update per row where the kernel has no batch for the map type).
import type { BpfMap } from '../loader/index.ts';
import { MAPS, TABLE_WRITE_ORDER, type MapName } from '../tables/layouts.ts';
import type { TableRow } from '../tables/compile.ts';
import { hex } from '../tables/codec.ts';
import { isRemovedRow, zeroedRows, type TableSink, type TableState } from './sink.ts';

/** Where the maps come from: a loaded BpfObject, or anything that hands out maps by name. */
export interface MapSource {
  map(name: string): BpfMap;
}

export interface KernelSinkOptions {
  /** Rows per batch update (default 4096). */
  batchSize?: number;
}

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

/** The rows a map holds (an array map's removed, zero rows left out). */
export function readRows(map: BpfMap, name: MapName): TableRow[] {
  const rows: TableRow[] = [];
  for (const [key, value] of map.entries()) {
    if (isRemovedRow(name, value)) continue;
    rows.push({ key: new Uint8Array(key), value: new Uint8Array(value) });
  }
  return rows;
}

export class KernelSink implements TableSink {
  private readonly batchSize: number;

  constructor(
    private readonly maps: MapSource,
    options: KernelSinkOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 4096;
  }

  /** Writes rows in batches; throws naming the map (and the failing row's key). */
  write(name: MapName, rows: readonly TableRow[]): void {
    const map = this.maps.map(name);
    checkMapLayout(map, name);
    for (let start = 0; start < rows.length; start += this.batchSize) {
      const chunk = rows.slice(start, start + this.batchSize);
      try {
        map.updateBatch(chunk.map((row) => [row.key, row.value] as const));
      } catch (err) {
        const processed = (err as { processed?: number }).processed ?? 0;
        const row = chunk[processed];
        const at = row ? ` (row ${start + processed}, key ${hex(row.key)})` : '';
        throw new Error(`map ${name}: write tables${at}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  remove(name: MapName, rows: readonly TableRow[]): void {
    const zeroed = zeroedRows(name, rows);
    if (zeroed) return this.write(name, zeroed);
    const map = this.maps.map(name);
    checkMapLayout(map, name);
    map.deleteBatch(rows.map((row) => row.key));
  }

  capacity(name: MapName): number {
    return this.maps.map(name).maxEntries ?? Infinity;
  }

  /** The rows the table maps hold now. */
  readState(): TableState {
    const state: TableState = new Map();
    for (const name of TABLE_WRITE_ORDER) {
      state.set(name, new Map(readRows(this.maps.map(name), name).map((row) => [hex(row.key), row])));
    }
    return state;
  }
}
