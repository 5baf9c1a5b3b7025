// Writes compiled table rows into policy.wasm's maps, in the same bytes the kernel maps get.
import type { PolicyInstance } from '../wasm/instance.ts';
import { MAPS, TABLE_WRITE_ORDER, type MapName } from './layouts.ts';
import type { CompiledTables } from './compile.ts';

interface MapExports {
  host_scratch(size: number): number;
  map_update(id: number, key: number, value: number): number;
  map_delete(id: number, key: number): number;
  map_lookup(id: number, key: number): number;
  map_clear(id: number): void;
}

/** Also a MapWriter (src/agent/reconcile.ts), so incremental updates can be replayed in Wasm. */
export class WasmTables {
  private readonly wasm: MapExports;

  constructor(readonly instance: PolicyInstance) {
    this.wasm = instance.exports as unknown as MapExports;
  }

  /** Replaces every table with `tables` (and clears the policy's own state: affinity, counters). */
  load(tables: CompiledTables): void {
    for (const spec of Object.values(MAPS)) this.wasm.map_clear(spec.wasmId);
    for (const name of TABLE_WRITE_ORDER) {
      for (const row of tables.rows.get(name)!.values()) this.update(name, row.key, row.value);
    }
  }

  /** MapWriter: writes rows one by one. */
  updateRows(name: MapName, rows: { key: Uint8Array; value: Uint8Array }[]): void {
    for (const row of rows) this.update(name, row.key, row.value);
  }

  /** MapWriter: hash maps delete; array maps get a zeroed value, as in the kernel. */
  removeRows(name: MapName, rows: { key: Uint8Array }[]): void {
    const spec = MAPS[name];
    for (const row of rows) {
      if (spec.kind === 'array') {
        this.update(name, row.key, new Uint8Array(spec.value.size));
        continue;
      }
      const ptr = this.wasm.host_scratch(row.key.length);
      this.instance.bytes().set(row.key, ptr);
      this.wasm.map_delete(spec.wasmId, ptr);
    }
  }

  /** The value bytes of a row, or undefined when the map has no such key. */
  lookup(name: MapName, key: Uint8Array): Uint8Array | undefined {
    const spec = MAPS[name];
    const ptr = this.wasm.host_scratch(key.length);
    this.instance.bytes().set(key, ptr);
    const value = this.wasm.map_lookup(spec.wasmId, ptr);
    return value ? this.instance.bytes().slice(value, value + spec.value.size) : undefined;
  }

  update(name: MapName, key: Uint8Array, value: Uint8Array): void {
    const spec = MAPS[name];
    const ptr = this.wasm.host_scratch(key.length + value.length);
    const bytes = this.instance.bytes();
    bytes.set(key, ptr);
    bytes.set(value, ptr + key.length);
    const rc = this.wasm.map_update(spec.wasmId, ptr, ptr + key.length);
    if (rc !== 0) throw new Error(`map ${name}: update: ${rc === -7 ? 'E2BIG (map full)' : `error ${rc}`}`);
  }
}
