// The Wasm sink: compiled table rows into policy.wasm's maps, the same bytes the kernel maps get.
// Shared by Node and the browser (the simulator, the playground).
import type { PolicyExports, PolicyInstance } from '../wasm/instance.ts';
import { MAPS, type MapName } from '../tables/layouts.ts';
import type { CompiledTables, TableRow } from '../tables/compile.ts';
import { writeTables } from './apply.ts';
import { zeroedRows, type TableSink } from './sink.ts';

export class WasmSink implements TableSink {
  private readonly wasm: PolicyExports;

  constructor(readonly instance: PolicyInstance) {
    this.wasm = instance.exports;
  }

  /** Replaces every table with `tables` (and clears the policy's own state: affinity, counters). */
  load(tables: CompiledTables): void {
    for (const spec of Object.values(MAPS)) this.wasm.map_clear(spec.wasmId);
    writeTables(this, tables);
  }

  /** Writes rows one by one; a full map throws E2BIG, as the kernel's does. */
  write(name: MapName, rows: readonly TableRow[]): void {
    const spec = MAPS[name];
    for (const row of rows) {
      const ptr = this.wasm.host_scratch(row.key.length + row.value.length);
      const bytes = this.instance.bytes();
      bytes.set(row.key, ptr);
      bytes.set(row.value, ptr + row.key.length);
      const rc = this.wasm.map_update(spec.wasmId, ptr, ptr + row.key.length);
      if (rc !== 0) throw new Error(`map ${name}: update: ${rc === -7 ? 'E2BIG (map full)' : `error ${rc}`}`);
    }
  }

  remove(name: MapName, rows: readonly TableRow[]): void {
    const zeroed = zeroedRows(name, rows);
    if (zeroed) return this.write(name, zeroed);
    for (const row of rows) {
      const ptr = this.wasm.host_scratch(row.key.length);
      this.instance.bytes().set(row.key, ptr);
      this.wasm.map_delete(MAPS[name].wasmId, ptr);
    }
  }

  capacity(name: MapName): number {
    return MAPS[name].maxEntries;
  }

  /** The value bytes of a row, or undefined when the map has no such key. */
  lookup(name: MapName, key: Uint8Array): Uint8Array | undefined {
    const spec = MAPS[name];
    const ptr = this.wasm.host_scratch(key.length);
    this.instance.bytes().set(key, ptr);
    const value = this.wasm.map_lookup(spec.wasmId, ptr);
    return value ? this.instance.bytes().slice(value, value + spec.value.size) : undefined;
  }
}
