// What the pinned maps say, as `meshc inspect` decodes them, against what manifests say: for the
// agent's end-to-end tests that check the maps after each step.
import path from 'node:path';
import { decodeServices, type InspectInput, type InspectResult } from '../../../src/inspect/decode.ts';
import { openPinnedMap } from '../../../src/loader/index.ts';
import { buildModel } from '../../../src/model/build.ts';
import { parseManifests } from '../../../src/model/parse.ts';
import { readRows } from '../../../src/sinks/kernel.ts';
import { isRemovedRow } from '../../../src/sinks/sink.ts';
import { decode, encode } from '../../../src/tables/codec.ts';
import { compileTables, type TableRow } from '../../../src/tables/compile.ts';
import * as L from '../../../src/tables/layouts.ts';
import { TABLE_WRITE_ORDER, type MapName } from '../../../src/tables/layouts.ts';

/** What a set of decoded services says, order-free: frontend -> algorithm and sorted backends. */
export function shape(result: InspectResult): Map<string, string> {
  return new Map(
    result.services.map((s) => [
      `${s.vip}:${s.port}/${s.protocol}`,
      `${s.algorithm} ${s.flags.join(',')} ${s.backends.map((b) => `${b.ip}:${b.port}:${b.state}`).sort().join(' ')}`,
    ]),
  );
}

/**
 * The pinned rows as inspect reads them, but mc_backends (an array of 262,144 rows, slow to read
 * whole on a loaded machine) only at the ids the slots reference; with the rows per map.
 */
export function readPins(pin: string): { input: InspectInput; counts: Map<MapName, number> } {
  const rows = new Map<MapName, TableRow[]>();
  // mc_backends last: its ids come from mc_slots.
  for (const name of [...TABLE_WRITE_ORDER.filter((n) => n !== 'mc_backends'), 'mc_backends' as const]) {
    const map = openPinnedMap(path.join(pin, 'maps', name));
    try {
      if (name !== 'mc_backends') {
        rows.set(name, readRows(map, name));
        continue;
      }
      const ids = new Set((rows.get('mc_slots') ?? []).map((row) => Number(decode(L.TableValue, row.value).value)));
      const backends: TableRow[] = [];
      for (const id of ids) {
        const key = encode(L.ArrayIndex, { index: id });
        const value = map.lookup(key);
        if (value && !isRemovedRow(name, value)) backends.push({ key, value: new Uint8Array(value) });
      }
      rows.set(name, backends);
    } finally {
      map.close();
    }
  }
  return { input: { rows, names: new Map(), conns: new Map() }, counts: new Map([...rows].map(([name, list]) => [name, list.length])) };
}


/** What the maps must say for `manifests`: the decoded shape and the rows per map. */
export function expectedMaps(manifests: string, node = 'node-1'): { shape: Map<string, string>; counts: Map<MapName, number> } {
  const model = buildModel(parseManifests(manifests, 'expected.yaml'), { synthesize: false });
  const tables = compileTables(model, { node });
  const rows = new Map([...tables.rows].map(([name, map]) => [name, [...map.values()]]));
  return { shape: shape(decodeServices({ rows, names: new Map(), conns: new Map() })), counts: new Map([...tables.rows].map(([name, map]) => [name, map.size])) };
}
