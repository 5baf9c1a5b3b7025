// What the ingress check at the destination pod (mc_np_ingress, cgroup_skb/ingress) costs per
// packet, with kernel.bpf_stats_enabled=1 (run_time_ns and run_cnt), setups interleaved in every
// round, each with its own object, pins, cgroup and server:
//   off         mc_np_config says no pod is isolated for ingress (the switch: one array read)
//   unselected  a policy isolates another pod: the server's cgroup lookup and identity row
//   judged      a policy isolates the server pod and allows 10.244.0.0/16 on its port: every
//               SYN is judged (source address lookup, decideNetwork) and allowed
// The client dials the server's pod address from the same network namespace (a cgroup without
// programs), so the source is that address too: judged as any source is, by address. Per
// connection the program runs on the SYN (judged), the ACK and the client's RST (SO_LINGER 0),
// which stop after the headers. Every connection must succeed.
//
// `npx tsx bench/netpol-ingress.ts [--connects N] [--rounds R] [--out FILE]` (root). Writes
// bench/results/netpol-ingress.json.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab, removePins, RT_PRIORITY, type Placement } from './lib/lab.ts';
import { buildObject, programRunTimes, runTimeDelta, withBpfStats, type ProgramRunTime } from './lib/meshc.ts';
import { buildTools, missingTools, versions, type Tools } from './lib/tools.ts';
import { median } from './datapath/one-hop.ts';
import { buildModel } from '../src/model/build.ts';
import { parseManifests } from '../src/model/parse.ts';
import { KernelSink } from '../src/sinks/kernel.ts';
import { loadObject, type BpfLink, type BpfObject } from '../src/loader/index.ts';
import { compileNetpol, NP_MAPS, npConfigValue } from '../src/netpol/tables.ts';
import * as L from '../src/tables/layouts.ts';
import { encode } from '../src/tables/codec.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SETUPS = ['off', 'unselected', 'judged'] as const;
type Setup = (typeof SETUPS)[number];
const SERVER_IP = '10.244.0.10';
const PORT: Record<Setup, number> = { off: 8080, unselected: 8081, judged: 8082 };

/** The server pod, another pod, and one policy isolating the server (judged) or the other pod. */
function manifests(setup: Setup): string {
  const pod = (name: string, ip: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: bench, labels: {app: ${name}}}\nspec: {containers: [{name: c, image: i}]}\nstatus: {podIP: ${ip}}`;
  const subject = setup === 'judged' ? 'server' : 'other';
  return ['apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}', pod('server', SERVER_IP), pod('other', '10.244.0.11'),
    `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-lan, namespace: bench}\nspec:\n  podSelector: {matchLabels: {app: ${subject}}}\n  policyTypes: [Ingress]\n  ingress: [{from: [{ipBlock: {cidr: 10.244.0.0/16}}], ports: [{port: 8080, endPort: 8090}]}]`,
  ].join('\n---\n');
}

async function dial(lab: Lab, tools: Tools, where: Placement, addr: string, connects: number, warmup: number): Promise<{ p50: number }> {
  const out = await lab.exec(where, [tools.connectbench, 'dial', addr, String(connects), String(warmup)]);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { errors: number; firstError: string; ns: { p50: number } };
  if (r.errors > 0) throw new Error(`connect() to ${addr}: ${r.errors} of ${connects} failed (${r.firstError})`);
  return r.ns;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { connects: { type: 'string' }, warmup: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' } } });
  const connects = Number(values.connects ?? 5000);
  const warmup = Number(values.warmup ?? 500);
  const rounds = Number(values.rounds ?? 9);
  const outFile = values.out ?? path.join(ROOT, 'bench/results/netpol-ingress.json');
  const missing = missingTools(['gcc', 'bpftool', 'taskset', 'chrt', 'ip']);
  if (missing.length > 0) throw new Error(`missing: ${missing.join(', ')}`);
  const tools = buildTools();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-npi-'));
  const lab = new Lab();
  const objects: BpfObject[] = [];
  const links: BpfLink[] = [];
  const pins: string[] = [];
  process.once('SIGINT', () => void lab.close().then(() => process.exit(130)));
  try {
    const object = await buildObject(dir);
    const ns = lab.netns('npi', [SERVER_IP]);
    const plain = lab.cgroup('npi-client');
    const ids = new Map<Setup, number>();
    for (const [i, setup] of SETUPS.entries()) {
      const cgroup = lab.cgroup(`npi-${setup}`);
      pins.push(lab.pinDir(`npi-${i}`));
      const obj = loadObject(object, { pinRoot: pins[i]! });
      objects.push(obj);
      const tables = compileNetpol(buildModel(parseManifests(manifests(setup), 'bench.yaml'), { synthesize: false }));
      const sink = new KernelSink(obj);
      for (const name of NP_MAPS) sink.write(name, [...tables.rows.get(name)!.values()]);
      const self = tables.pods.get('bench/server')!;
      const key = Buffer.alloc(8);
      key.writeBigUInt64LE(statSync(cgroup, { bigint: true }).ino);
      obj.map('mc_np_endpoints').update(key, encode(L.NpAddrValue, { pod: self.identity, cidr: self.cidr }));
      // off: the tables of `unselected`, the switch says nothing is isolated.
      obj.map('mc_np_config').update(new Uint8Array(4), setup === 'off' ? new Uint8Array(8) : npConfigValue(tables));
      links.push(obj.program('mc_np_ingress').attachCgroup(cgroup));
      ids.set(setup, obj.program('mc_np_ingress').info.id);
      const server = lab.spawn({ netns: ns, cgroup, cpus: '1', realtime: true }, [tools.connectbench, 'serve', `${SERVER_IP}:${PORT[setup]}`], `connectbench serve ${setup}`);
      await server.waitLine((l) => l === 'ready');
    }
    const client: Placement = { netns: ns, cgroup: plain, cpus: '0', realtime: true };
    for (const s of SETUPS) await dial(lab, tools, client, `${SERVER_IP}:${PORT[s]}`, warmup, 0);
    const samples = new Map<Setup, { p50: number; run: ProgramRunTime }[]>(SETUPS.map((s) => [s, []]));
    await withBpfStats(async () => {
      for (let round = 0; round < rounds; round++) {
        for (const s of SETUPS) {
          const before = programRunTimes([ids.get(s)!]);
          const r = await dial(lab, tools, client, `${SERVER_IP}:${PORT[s]}`, connects, warmup);
          const run = runTimeDelta(before, programRunTimes([ids.get(s)!]))[0] ?? { name: 'mc_np_ingress', runTimeNs: 0, runCount: 0 };
          samples.get(s)!.push({ p50: r.p50, run });
        }
      }
    });
    const perConnect = connects + warmup;
    const nsPerRun = (r: ProgramRunTime) => (r.runCount ? r.runTimeNs / r.runCount : 0);
    const base = samples.get('off')!;
    const rows = SETUPS.map((s) => {
      const list = samples.get(s)!;
      return {
        setup: s,
        runsPerConnect: median(list.map((x) => x.run.runCount / perConnect)),
        nsPerRun: median(list.map((x) => nsPerRun(x.run))),
        nsPerRunVsOff: median(list.map((x, i) => nsPerRun(x.run) - nsPerRun(base[i]!.run))),
        ratioVsOff: median(list.map((x, i) => nsPerRun(x.run) / nsPerRun(base[i]!.run))),
        nsPerConnect: median(list.map((x) => x.run.runTimeNs / perConnect)),
        nsPerConnectVsOff: median(list.map((x, i) => (x.run.runTimeNs - base[i]!.run.runTimeNs) / perConnect)),
        p50Ns: median(list.map((x) => x.p50)),
      };
    });
    for (const r of rows) {
      console.log(`  ${r.setup.padEnd(10)} mc_np_ingress ${r.runsPerConnect.toFixed(2)} runs per connection × ${Math.round(r.nsPerRun)} ns (×${r.ratioVsOff.toFixed(2)} of off, ` +
        `${r.nsPerRunVsOff >= 0 ? '+' : ''}${Math.round(r.nsPerRunVsOff)} ns); ${Math.round(r.nsPerConnect)} ns per connection (${r.nsPerConnectVsOff >= 0 ? '+' : ''}${Math.round(r.nsPerConnectVsOff)} vs off); connect() p50 ${(r.p50Ns / 1000).toFixed(2)} µs`);
    }
    writeFileSync(outFile, `${JSON.stringify({
      conditions: {
        cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))), versions: versions(),
        connectsPerRound: connects, warmupConnects: warmup, rounds,
        setups: 'off: the switch (no pod isolated for ingress); unselected: another pod isolated; judged: the server pod isolated, the source allowed by ipBlock 10.244.0.0/16; each with its own object, pins, cgroup and server',
        client: `bench/lib/connectbench.c dial (blocking connect(), SO_LINGER 0) on CPU 0 to the pod address in the same network namespace, server on CPU 1, both SCHED_FIFO ${RT_PRIORITY}`,
        reported: `median over ${rounds} rounds, setups interleaved in each round; differences and ratios against off of the same round`,
      },
      rows,
    }, null, 2)}\n`);
    console.log(`  wrote ${path.relative(process.cwd(), outFile)}`);
  } finally {
    for (const l of links.splice(0)) l.detach();
    for (const o of objects) o.close();
    for (const p of pins) removePins(p);
    const problems = await lab.close();
    for (const p of problems) console.error(`cleanup: ${p}`);
    rmSync(dir, { recursive: true, force: true });
    rmSync(tools.dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
