// Reads the maps an agent pinned under --pin, for `meshc inspect` (and the names for `meshc
// monitor`). Only lookups and iteration: nothing is written.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openPinnedMap, type BpfMap } from '../loader/index.ts';
import * as L from '../tables/layouts.ts';
import { decode } from '../tables/codec.ts';
import type { TableRow } from '../tables/compile.ts';
import { sumPerCpu } from '../glue/counters.ts';
import { readNames } from '../glue/names.ts';
import { readRows } from '../sinks/kernel.ts';
import type { InspectInput } from './decode.ts';

/** The pin directory is missing or holds no meshc maps. */
export class NoPinnedMapsError extends Error {
  constructor(readonly pin: string, detail: string) {
    super(`no pinned meshc maps at ${pin}: is the agent running? (meshc agent --pin ${pin})${detail ? ` [${detail}]` : ''}`);
  }
}

const POLICY_MAPS: L.MapName[] = ['mc_services', 'mc_slots', 'mc_backends', 'mc_groups'];

/** Opens `<pin>/maps/<name>`, or says plainly that the agent's pins are not there. */
export function openMeshcMap(pin: string, name: string): BpfMap {
  const maps = join(pin, 'maps');
  if (!existsSync(pin)) throw new NoPinnedMapsError(pin, `${pin} does not exist`);
  if (!existsSync(maps) || !statSync(maps).isDirectory()) throw new NoPinnedMapsError(pin, `no ${maps} directory`);
  const path = join(maps, name);
  if (!existsSync(path)) throw new NoPinnedMapsError(pin, `no ${path}`);
  return openPinnedMap(path);
}

/** Everything `meshc inspect` decodes, read from the pinned maps under `pin`. */
export function readPinned(pin: string): InspectInput {
  const opened: BpfMap[] = [];
  const open = (name: string) => {
    const map = openMeshcMap(pin, name);
    opened.push(map);
    return map;
  };
  try {
    const table = new Map<L.MapName, TableRow[]>();
    for (const name of POLICY_MAPS) table.set(name, readRows(open(name), name));
    const names = existsSync(join(pin, 'maps', 'mc_names')) ? readNames(open('mc_names')) : new Map<string, string>();
    const conns = new Map<number, number>();
    const connMap = open('mc_conns');
    for (const row of table.get('mc_backends')!) {
      const id = Number(decode(L.ArrayIndex, row.key).index);
      const value = connMap.lookup(row.key);
      if (value) conns.set(id, value.readUInt32LE(0));
    }
    const metrics = existsSync(join(pin, 'maps', 'mc_metrics')) ? sumPerCpu(open('mc_metrics')) : undefined;
    return { rows: table, names, conns, ...(metrics ? { metrics } : {}) };
  } finally {
    for (const map of opened) map.close();
  }
}
