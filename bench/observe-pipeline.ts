// The agent's cost per ring record, in one process and one run: what it takes to turn a kernel
// event into a named, counted flow sent to a subscriber (the service map page's stream).
//
//   each     decode + describe + l4Flow + hub.publish for every record (the agent before)
//   kinds    RingFlows.record: named once per kind of event (client cgroup, Service, backend,
//            type, verdict, reason), then only the time is new; the hub's map place and metric
//            series are worked out once per kind too
//
// Records are the shapes a busy node sends (3 client cgroups, 2 Services, 3 backends, translations
// and refusals), with times 20 µs apart. Runs alternate between the two ways; the figure is the
// median ns per record over runs, and the ratio kinds / each. Also the records per second one
// thread can take at that cost, against the 50,000 connections a second of the observability bench
// (one record per connection: the flows ask the hooks for translations and refusals only).
//
// `npx tsx bench/observe-pipeline.ts [--records N] [--runs R] [--json FILE]`
import os from 'node:os';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { buildModel } from '../src/model/build.ts';
import { compileTables } from '../src/tables/compile.ts';
import { MC_EV } from '../src/generated/glue.ts';
import { decodeEvent, encodeEvent } from '../src/glue/events.ts';
import { describeEvent, type EventContext } from '../src/inspect/events.ts';
import { FlowDirectory } from '../src/observe/directory.ts';
import { l4Flow } from '../src/observe/flow.ts';
import { FlowHub } from '../src/observe/hub.ts';
import { RingFlows } from '../src/observe/ring.ts';
import { FlowMetrics } from '../src/metrics/flows.ts';
import { median } from './datapath/one-hop.ts';
import { canaryObjects } from '../test/observe/canary.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function records(n: number): Buffer[] {
  let seed = 11;
  const random = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % k);
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const refused = random(20) === 0;
    out.push(Buffer.from(encodeEvent({
      cookie: BigInt(1e6 + i), cgroupId: BigInt(7 + random(3)), timestamp: 5_000_000_000n + BigInt(i) * 20_000n,
      svcId: 1 + random(2), backendId: refused ? 0 : 1 + random(3), type: refused ? MC_EV.refuse : MC_EV.translate, verdict: 0, reason: refused ? 1 : 0, family: 4, proto: 6,
    })));
  }
  return out;
}

function main(): void {
  const { values } = parseArgs({ options: { records: { type: 'string' }, runs: { type: 'string' }, json: { type: 'string' } } });
  const n = Number(values.records ?? 200_000);
  const runs = Number(values.runs ?? 7);
  const out = values.json ?? path.join(ROOT, 'bench/results/observe-pipeline.json');
  const model = buildModel(canaryObjects().map((object, doc) => ({ file: 'canary', doc, object })));
  const directory = new FlowDirectory();
  directory.update(model, compileTables(model));
  const context: EventContext = {
    monotonicToUnixNs: BigInt(Date.now()) * 1_000_000n,
    cgroupPath: (id) => `/kubepods/besteffort/pod0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4${Number(id)}`,
    name: (_kind, id) => `default/web-${id}:80/TCP`,
  };
  const input = records(n);
  const setups = {
    each: (hub: FlowHub) => (record: Buffer) => hub.publish(l4Flow(describeEvent(decodeEvent(record), context), directory)),
    kinds: (hub: FlowHub) => {
      const ring = new RingFlows('/nonexistent', '/nonexistent', hub, directory);
      ring.use(context);
      return (record: Buffer) => ring.record(record);
    },
  };
  const ns: Record<keyof typeof setups, number[]> = { each: [], kinds: [] };
  let sent = 0;
  for (let run = 0; run < runs; run++) {
    for (const name of (run % 2 === 0 ? ['each', 'kinds'] : ['kinds', 'each']) as (keyof typeof setups)[]) {
      const hub = new FlowHub({ metrics: new FlowMetrics(new Registry()) });
      // A page's subscription: at most 200 flows a second are sent, the rest counted.
      hub.subscribe({}, { flow: () => sent++, lost: () => undefined, tick: () => undefined }, 200);
      const take = setups[name](hub);
      const t0 = process.hrtime.bigint();
      for (const record of input) take(record);
      const elapsed = Number(process.hrtime.bigint() - t0);
      ns[name].push(elapsed / n);
      process.stderr.write(`run ${run} ${name}: ${(elapsed / n).toFixed(0)} ns per record\n`);
    }
  }
  const each = median(ns.each);
  const kinds = median(ns.kinds);
  const result = {
    conditions: { date: new Date().toISOString(), loadavg: os.loadavg(), cpus: os.cpus().length, node: process.version, records: n, runs, flowsSent: sent },
    nsPerRecord: { each: Math.round(each), kinds: Math.round(kinds) },
    ratio: +(kinds / each).toFixed(3),
    recordsPerSecondOneThread: { each: Math.round(1e9 / each), kinds: Math.round(1e9 / kinds) },
  };
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main();
