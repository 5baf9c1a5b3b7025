// Pinned maps with many service frontends, for the scale test and bench of `meshc inspect`: the
// object loaded into a bpffs directory of the caller's own, and rows written the way the kernel
// sink writes them: frontend i at 10.96.0.0 + i + 1, port 80/TCP, one ready backend (pod address
// 10.128.0.0 + i + 1:8080) in backend table i + 1 (or all on table 1, `shared`, as agents before
// one table per Service port wrote Services with equal endpoints), and both names in mc_names.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { loadObject } from '../../src/loader/index.ts';
import { MC_NAME } from '../../src/generated/glue.ts';
import { encodeName, nameKey } from '../../src/glue/names.ts';
import { KernelSink } from '../../src/sinks/kernel.ts';
import { addressWords, encode, netPort } from '../../src/tables/codec.ts';
import type { TableRow } from '../../src/tables/compile.ts';
import * as L from '../../src/tables/layouts.ts';
import { clusterIP, podIP } from '../apiserver/scale.ts';
import { ROOT } from '../kernel/env.ts';

export const frontendName = (i: number) => `ns-${i % 100}/svc-${i}:80/TCP`;
export const podName = (i: number) => `ns-${i % 100}/svc-${i}-pod`;

/** Loads meshc.bpf.o with its maps pinned under `pin`/maps and writes `count` frontends. */
export function fillPinnedMaps(pin: string, count: number, options: { shared?: boolean } = {}): void {
  mkdirSync(path.join(pin, 'maps'), { recursive: true });
  const obj = loadObject(path.join(ROOT, 'build/meshc.bpf.o'), { pinRoot: path.join(pin, 'maps') });
  try {
    const rows = { mc_backends: [] as TableRow[], mc_slots: [] as TableRow[], mc_services: [] as TableRow[] };
    const names: (readonly [Uint8Array, Uint8Array])[] = [];
    for (let i = 0; i < count; i++) {
      const id = i + 1;
      const table = options.shared ? 1 : id;
      const pod = addressWords(podIP(i));
      rows.mc_backends.push({ key: encode(L.ArrayIndex, { index: id }), value: encode(L.Backend, { ...pod, port: netPort(8080), state: L.BACKEND.ready }) });
      if (!options.shared || i === 0) rows.mc_slots.push({ key: encode(L.TableKey, { table, index: 0 }), value: encode(L.TableValue, { value: id }) });
      const vip = addressWords(clusterIP(i));
      rows.mc_services.push({
        key: encode(L.ServiceKey, { ...vip, port: netPort(80), proto: L.IPPROTO.TCP }),
        value: encode(L.ServiceValue, { id, table, ready: 1, algorithm: L.ALG.random }),
      });
      names.push([nameKey(MC_NAME.service, id), encodeName(frontendName(i))], [nameKey(MC_NAME.backend, id), encodeName(podName(i))]);
    }
    const sink = new KernelSink(obj);
    for (const name of ['mc_backends', 'mc_slots', 'mc_services'] as const) sink.write(name, rows[name]);
    obj.map('mc_names').updateBatch(names);
  } finally {
    obj.close();
  }
}
