// Worlds larger than the maps hold twice, for the agent's capacity tests and bench/agent-recovery.ts:
// Maglev Services on pairs of pods (issue 11 item 4: 600 whose endpoints all change need 1,225,200
// ring rows at once in a 1,048,576-row map), and frontends a previous agent left in the pins.
import path from 'node:path';
import { openPinnedMap } from '../../../src/loader/index.ts';
import { serviceYaml } from '../../helpers/policy-harness.ts';

export const POOL = 46; // pods per generation: 1,035 pairs, one per Service
export const maglevPod = (generation: number, i: number) => `10.244.${9 + generation}.${i + 1}`;
export const maglevVip = (s: number) => `10.96.${20 + (s >> 8)}.${s & 255}`;

/** Service s's two pods in `generation`: a pair of that generation's pool of its own. */
export function maglevPair(generation: number, s: number): string[] {
  let i = 0;
  let j = 1;
  for (let k = 0; k < s; k++) {
    j++;
    if (j === POOL) {
      i++;
      j = i + 1;
    }
  }
  return [maglevPod(generation, i), maglevPod(generation, j)];
}

/** Services `from` .. `from + count - 1`, Maglev, each on its pair of `generation`. */
export function maglevWorld(generation: number, from: number, count: number): string {
  return Array.from({ length: count }, (_, k) => {
    const s = from + k;
    return serviceYaml(`m${s}`, maglevPair(generation, s).map((ip) => ({ ip })), { clusterIP: maglevVip(s) }, { 'meshc.io/lb-algorithm': 'maglev' });
  }).join('---\n');
}

/**
 * What a previous agent with `count` more frontends leaves in the pins (written while no agent
 * runs): mc_services rows for ClusterIPs 10.100.0.0 and up, port 80/TCP, at ids no row uses, each
 * a copy of an existing TCP frontend's row (so on its table). Returns the rows now in the map.
 */
export function fillAdoptedFrontends(pin: string, count: number): number {
  const services = openPinnedMap(path.join(pin, 'maps', 'mc_services'));
  try {
    const rows = services.entries();
    const used = new Set(rows.map(([, value]) => value.readUInt32LE(0)));
    const tcp = rows.find(([key]) => key[18] === 6);
    if (!tcp) throw new Error('fillAdoptedFrontends: no TCP frontend to copy');
    const fill: [Buffer, Buffer][] = [];
    for (let i = 0, id = 1; i < count; i++, id++) {
      while (used.has(id)) id++;
      const key = Buffer.from(tcp[0]);
      key.set([10, 100 + (i >> 16), (i >> 8) & 255, i & 255], 0);
      const value = Buffer.from(tcp[1]);
      value.writeUInt32LE(id, 0);
      fill.push([key, value]);
    }
    for (let at = 0; at < fill.length; at += 8192) services.updateBatch(fill.slice(at, at + 8192));
    return services.entries().length;
  } finally {
    services.close();
  }
}
