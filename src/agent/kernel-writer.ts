// MapWriter over the pinned BPF maps: batched writes, and reading the rows back on a restart.
import type { BpfMap } from '../loader/index.ts';
import { MAPS, TABLE_WRITE_ORDER, type MapName } from '../tables/layouts.ts';
import type { TableRow } from '../tables/compile.ts';
import { hex } from '../tables/codec.ts';
import { writeRows } from '../sinks/kernel-tables.ts';
import type { MapWriter, TableState } from './reconcile.ts';

export class KernelWriter implements MapWriter {
  constructor(private readonly maps: (name: MapName) => BpfMap) {}

  update(name: MapName, rows: TableRow[]): void {
    writeRows(this.maps(name), name, rows);
  }

  remove(name: MapName, rows: TableRow[]): void {
    const map = this.maps(name);
    if (MAPS[name].kind === 'array') {
      const zero = new Uint8Array(MAPS[name].value.size);
      map.updateBatch(rows.map((r) => [r.key, zero] as const));
      return;
    }
    map.deleteBatch(rows.map((r) => r.key));
  }

  /** The rows the maps hold now (array maps: only non-zero entries). */
  readState(): TableState {
    const state: TableState = new Map();
    for (const name of TABLE_WRITE_ORDER) {
      const rows = new Map<string, TableRow>();
      for (const [key, value] of this.maps(name).entries()) {
        if (MAPS[name].kind === 'array' && value.every((b) => b === 0)) continue;
        rows.set(hex(key), { key: new Uint8Array(key), value: new Uint8Array(value) });
      }
      state.set(name, rows);
    }
    return state;
  }
}
