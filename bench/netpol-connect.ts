// What network policy costs a real connect(), with kernel.bpf_stats_enabled=1 (run_time_ns and
// run_cnt of each program) and connect() p50, in one run, setups interleaved in every round:
//   direct      the Service's pod, from a cgroup without hooks
//   no-policy   the Service's ClusterIP from a routed cgroup, no network policy loaded (the
//               baseline: mc_np_config says nothing is isolated)
//   select-0    the same, 10,000 NetworkPolicies loaded that select another pod, none the client
//   select-100  100 NetworkPolicies selecting the client (one allows its Service's pod on 8080,
//               each other allows egress to its own /32 on 443)
//   select-10k  10,000 such policies
// Each routed setup has its own object, pins and cgroup (the client's cgroup is the client pod's
// in mc_np_endpoints). Every connect() must succeed (the allowed path is measured); after the
// rounds, the harness says for each setup whether the check took the switch's shortcut or the
// whole decision, so the figures are known to measure the path they name.
//
// `npx tsx bench/netpol-connect.ts [--connects N] [--rounds R] [--out FILE]` (root). Writes
// bench/results/netpol-connect.json. Target (issue 16): connect4 within 100 ns of no policy at
// 10,000 policies selecting the client.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab, removePins, RT_PRIORITY, type Placement } from './lib/lab.ts';
import { buildObject, programRunTimes, Routing, runTimeDelta, tablesFor, withBpfStats, type ProgramRunTime } from './lib/meshc.ts';
import { TARGET, targetService } from './lib/services.ts';
import { buildTools, missingTools, versions, type Tools } from './lib/tools.ts';
import { median } from './datapath/one-hop.ts';
import { buildModel } from '../src/model/build.ts';
import { parseManifests } from '../src/model/parse.ts';
import { KernelSink } from '../src/sinks/kernel.ts';
import { compileNetpol, NP_MAPS, npConfigValue, type NetpolTables } from '../src/netpol/tables.ts';
import * as L from '../src/tables/layouts.ts';
import { addressWords, encode, fieldOffset, netPort } from '../src/tables/codec.ts';
import { McNpHarnessSlot } from '../src/generated/glue.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SETUPS = ['direct', 'no-policy', 'select-0', 'select-100', 'select-10k'] as const;
type Setup = (typeof SETUPS)[number];
/** Policies loaded per routed setup, and whether they select the client. */
const POLICIES: Record<Exclude<Setup, 'direct'>, { count: number; selectClient: boolean }> = {
  'no-policy': { count: 0, selectClient: false },
  'select-0': { count: 10_000, selectClient: false },
  'select-100': { count: 100, selectClient: true },
  'select-10k': { count: 10_000, selectClient: true },
};
const CLIENT_IP = '10.244.0.2';
const OTHER_IP = '10.244.0.3';
/** Byte offsets in struct mc_np_harness_slot (bpf/meshc_netpol.h), from its generated layout. */
const SLOT = {
  client: fieldOffset(McNpHarnessSlot, 'client'), clientCidr: fieldOffset(McNpHarnessSlot, 'client_cidr'), port: fieldOffset(McNpHarnessSlot, 'port'),
  proto: fieldOffset(McNpHarnessSlot, 'proto'), verdict: fieldOffset(McNpHarnessSlot, 'verdict'), fast: fieldOffset(McNpHarnessSlot, 'fast'),
} as const;

function target(i: number): string {
  return `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

/** Namespace, the client, its Service's pod, another pod, and `count` policies. */
function netpolManifests(count: number, selectClient: boolean): string {
  const pod = (name: string, ip: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: bench, labels: {app: ${name}}}\nspec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: ${TARGET.targetPort}}]}]}\nstatus: {podIP: ${ip}}`;
  const docs = ['apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}', pod('client', CLIENT_IP), pod('target', TARGET.podIP), pod('other', OTHER_IP)];
  const subject = selectClient ? 'client' : 'other';
  for (let i = 0; i < count; i++) {
    const to = i === 0 ? `[{podSelector: {matchLabels: {app: target}}}], ports: [{port: ${TARGET.targetPort}}]` : `[{ipBlock: {cidr: ${target(i)}/32}}], ports: [{port: 443}]`;
    docs.push(`apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p${i}, namespace: bench}\nspec:\n  podSelector: {matchLabels: {app: ${subject}}}\n  policyTypes: [Egress]\n  egress: [{to: ${to}}]`);
  }
  return docs.join('\n---\n');
}

/** The network policy tables, the client's cgroup as the client pod, and the switch. */
function writeNetpol(routing: Routing, tables: NetpolTables, cgroup: string): void {
  const sink = new KernelSink(routing.obj);
  for (const name of NP_MAPS) sink.write(name, [...tables.rows.get(name)!.values()]);
  const self = tables.pods.get('bench/client')!;
  const key = Buffer.alloc(8);
  key.writeBigUInt64LE(statSync(cgroup, { bigint: true }).ino);
  routing.obj.map('mc_np_endpoints').update(key, encode(L.NpAddrValue, { pod: self.identity, cidr: self.cidr }));
  routing.obj.map('mc_np_config').update(new Uint8Array(4), npConfigValue(tables));
}

/** The path the hooks take for the client to the Service's pod: the harness's verdict and shortcut flag. */
function checkPath(routing: Routing, tables: NetpolTables): { allowed: boolean; shortcut: boolean } {
  const map = routing.obj.map('mc_np_harness');
  const batch = Buffer.alloc(map.valueSize);
  const self = tables.pods.get('bench/client')!;
  const words = addressWords(TARGET.podIP);
  batch.set(encode(L.NpAddrKey, { addr: words.addr, family: 4 }), 0);
  batch.writeUInt32LE(self.identity, SLOT.client);
  batch.writeUInt32LE(self.cidr, SLOT.clientCidr);
  batch.writeUInt16LE(netPort(TARGET.targetPort), SLOT.port);
  batch[SLOT.proto] = L.IPPROTO.TCP;
  map.update(Buffer.alloc(4), batch);
  const ctx = Buffer.alloc(8);
  ctx.writeUInt32LE(1, 0);
  const res = routing.obj.program('mc_harness_netpol').testRun({ ctx });
  if (res.retval !== 0) throw new Error(`mc_harness_netpol returned ${res.retval}`);
  const out = map.lookup(Buffer.alloc(4))!;
  return { allowed: out[SLOT.verdict] === L.NP_ALLOW, shortcut: out[SLOT.fast] === 1 };
}

async function dial(lab: Lab, tools: Tools, where: Placement, addr: string, connects: number, warmup: number): Promise<{ p50: number; p99: number }> {
  const out = await lab.exec(where, [tools.connectbench, 'dial', addr, String(connects), String(warmup)]);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { errors: number; firstError: string; ns: { p50: number; p99: number } };
  if (r.errors > 0) throw new Error(`connect() to ${addr}: ${r.errors} of ${connects} failed (${r.firstError})`);
  return r.ns;
}

interface Row {
  setup: Setup;
  policies: number;
  selectingClient: number;
  /** How the hooks decide this setup's connect() (harness): 'off' (switch), 'shortcut' or 'decision'. */
  path: string;
  p50Ns: number;
  p99Ns: number;
  /** p50 / no-policy's p50 of the same round (median over rounds). */
  p50VsNoPolicy: number;
  p50VsDirect: number;
  connect4NsPerRun: number;
  /** connect4 ns per run − no-policy's, of the same round (median over rounds). */
  connect4VsNoPolicyNs: number;
  programs: { name: string; runsPerConnect: number; nsPerRun: number }[];
  totalNsPerConnect: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { connects: { type: 'string' }, warmup: { type: 'string' }, rounds: { type: 'string' }, out: { type: 'string' } } });
  const connects = Number(values.connects ?? 10_000);
  const warmup = Number(values.warmup ?? 1000);
  const rounds = Number(values.rounds ?? 5);
  const outFile = values.out ?? path.join(ROOT, 'bench/results/netpol-connect.json');
  const missing = missingTools(['gcc', 'bpftool', 'taskset', 'chrt', 'ip']);
  if (missing.length > 0) throw new Error(`missing: ${missing.join(', ')}`);
  const tools = buildTools();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-npc-'));
  const lab = new Lab();
  const routings: Routing[] = [];
  const pins: string[] = [];
  process.once('SIGINT', () => void lab.close().then(() => process.exit(130)));
  try {
    const object = await buildObject(dir);
    const ns = lab.netns('npc', [TARGET.podIP, CLIENT_IP, OTHER_IP]);
    const plain = lab.cgroup('npc-plain');
    const server = lab.spawn({ netns: ns, cgroup: plain, cpus: '1', realtime: true }, [tools.connectbench, 'serve', `${TARGET.podIP}:${TARGET.targetPort}`], 'connectbench serve');
    await server.waitLine((l) => l === 'ready');
    const routes = tablesFor([targetService()]);
    const routed = SETUPS.filter((s): s is Exclude<Setup, 'direct'> => s !== 'direct');
    const cgroups = new Map<Setup, string>([['direct', plain]]);
    const paths = new Map<Setup, string>([['direct', 'no hooks']]);
    const compileMs = new Map<Setup, number>();
    for (const [i, setup] of routed.entries()) {
      const cgroup = lab.cgroup(`npc-${setup}`);
      cgroups.set(setup, cgroup);
      pins.push(lab.pinDir(`npc-${i}`));
      const routing = Routing.attach(object, pins[i]!, cgroup, routes);
      routings.push(routing);
      const { count, selectClient } = POLICIES[setup];
      const model = buildModel(parseManifests(netpolManifests(count, selectClient), 'bench.yaml'), { synthesize: false });
      const t0 = performance.now();
      const tables = compileNetpol(model);
      compileMs.set(setup, performance.now() - t0);
      writeNetpol(routing, tables, cgroup);
      const check = checkPath(routing, tables);
      if (!check.allowed) throw new Error(`${setup}: the harness denies the client's connection to ${TARGET.podIP}:${TARGET.targetPort}`);
      const off = tables.isolated.egress === 0 && tables.isolated.ingress === 0;
      paths.set(setup, off ? 'off (nothing isolated: one array lookup)' : check.shortcut ? 'shortcut (client not isolated for egress, no ingress policy)' : 'whole decision (address walk, rules)');
      console.log(`  ${setup}: ${count} policies (${selectClient ? 'selecting the client' : 'selecting another pod'}), ${tables.rules.length} rule rows, compiled in ${compileMs.get(setup)!.toFixed(0)} ms; path: ${paths.get(setup)}`);
    }
    const routingOf = (s: Setup) => (s === 'direct' ? undefined : routings[routed.indexOf(s)]);
    const place = (s: Setup): Placement => ({ netns: ns, cgroup: cgroups.get(s)!, cpus: '0', realtime: true });
    const addr = (s: Setup) => (s === 'direct' ? `${TARGET.podIP}:${TARGET.targetPort}` : `${TARGET.clusterIP}:${TARGET.port}`);
    for (const s of SETUPS) await dial(lab, tools, place(s), addr(s), warmup, 0); // cold caches

    const samples = new Map<Setup, { p50: number; p99: number; programs: ProgramRunTime[] }[]>(SETUPS.map((s) => [s, []]));
    await withBpfStats(async () => {
      for (let round = 0; round < rounds; round++) {
        for (const s of SETUPS) {
          const ids = routingOf(s)?.programIds() ?? [];
          const before = programRunTimes(ids);
          const ns2 = await dial(lab, tools, place(s), addr(s), connects, warmup);
          samples.get(s)!.push({ ...ns2, programs: runTimeDelta(before, programRunTimes(ids)) });
        }
      }
    });

    const perConnect = connects + warmup;
    const connect4 = (p: ProgramRunTime[]) => {
      const c = p.find((x) => x.name === 'mc_sock4_connect');
      return c && c.runCount ? c.runTimeNs / c.runCount : 0;
    };
    const base = samples.get('no-policy')!;
    const direct = samples.get('direct')!;
    const rows: Row[] = SETUPS.map((s) => {
      const list = samples.get(s)!;
      const names = [...new Set(list.flatMap((r) => r.programs.map((p) => p.name)))];
      const policy = s === 'direct' ? { count: 0, selectClient: false } : POLICIES[s];
      return {
        setup: s,
        policies: policy.count,
        selectingClient: policy.selectClient ? policy.count : 0,
        path: paths.get(s)!,
        p50Ns: median(list.map((r) => r.p50)),
        p99Ns: median(list.map((r) => r.p99)),
        p50VsNoPolicy: median(list.map((r, i) => r.p50 / base[i]!.p50)),
        p50VsDirect: median(list.map((r, i) => r.p50 / direct[i]!.p50)),
        connect4NsPerRun: median(list.map((r) => connect4(r.programs))),
        connect4VsNoPolicyNs: median(list.map((r, i) => connect4(r.programs) - connect4(base[i]!.programs))),
        programs: names.map((name) => {
          const of = list.map((r) => r.programs.find((p) => p.name === name) ?? { name, runTimeNs: 0, runCount: 0 });
          return { name, runsPerConnect: median(of.map((p) => p.runCount / perConnect)), nsPerRun: median(of.map((p) => (p.runCount ? p.runTimeNs / p.runCount : 0))) };
        }),
        totalNsPerConnect: median(list.map((r) => r.programs.reduce((sum, p) => sum + p.runTimeNs, 0) / perConnect)),
      };
    });
    for (const r of rows) {
      console.log(`  ${r.setup.padEnd(11)} connect() p50 ${(r.p50Ns / 1000).toFixed(2)} µs (×${r.p50VsNoPolicy.toFixed(3)} of no-policy, ×${r.p50VsDirect.toFixed(3)} of direct); ` +
        `connect4 ${Math.round(r.connect4NsPerRun)} ns per run (${r.setup === 'direct' ? '-' : `${r.connect4VsNoPolicyNs >= 0 ? '+' : ''}${Math.round(r.connect4VsNoPolicyNs)} ns vs no-policy`}); all programs ${Math.round(r.totalNsPerConnect)} ns per connect()`);
      for (const p of r.programs) console.log(`              ${p.name.padEnd(22)} ${p.runsPerConnect.toFixed(2)} runs per connect() × ${Math.round(p.nsPerRun)} ns`);
    }
    const at10k = rows.find((r) => r.setup === 'select-10k')!;
    const met = at10k.connect4VsNoPolicyNs <= 100;
    const target = `connect4 within 100 ns of no policy at 10,000 policies selecting the client: ${met ? 'met' : 'not met'} (${Math.round(at10k.connect4VsNoPolicyNs)} ns)`;
    console.log(`  target: ${target}`);
    const result = {
      conditions: {
        cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))), versions: versions(),
        connectsPerRound: connects, warmupConnects: warmup, rounds,
        setups: 'direct: the pod from a cgroup without hooks; the others dial the ClusterIP (one Service, one pod) from a routed cgroup of their own, each with its own object and tables',
        policies: 'select-N: N NetworkPolicies selecting the client for egress, p0 allows its Service\'s pod on 8080, each other its own /32 on 443; select-0: 10,000 such policies selecting another pod',
        stats: 'kernel.bpf_stats_enabled=1 for the measured rounds (restored after); run_time_ns and run_cnt from bpftool per round; per connect() over warmup + timed connects',
        reported: `median over ${rounds} rounds, setups interleaved in each round; differences and ratios against no-policy of the same round`,
        client: 'bench/lib/connectbench.c dial (blocking connect(), SO_LINGER 0) on CPU 0, server on CPU 1, both SCHED_FIFO ' + RT_PRIORITY,
      },
      compileMs: Object.fromEntries(compileMs),
      rows,
      target: { text: target, met },
    };
    writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`  wrote ${path.relative(process.cwd(), outFile)}`);
  } finally {
    for (const r of routings) r.close();
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
