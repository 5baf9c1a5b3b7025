// connect() cost, side by side in one run: N blocking connect()s (each timed with clock_gettime
// by bench/lib/connectbench.c) to
//   direct          the pod IP, from a cgroup without hooks
//   direct+hooks    the pod IP, from the routed cgroup (the hook runs and finds no Service)
//   meshc           the ClusterIP, from the routed cgroup: the connect hook rewrites it
//   iptables        the ClusterIP, in a namespace with kube-proxy-style DNAT rules, target last
// with 10, 1,000, 10,000 (and, in a full run, 100,000) Services in the maps / in the rules.
import type { Lab, Placement } from './lib/lab.ts';
import { removePins } from './lib/lab.ts';
import { flushNat, loadRules } from './lib/iptables.ts';
import { Routing, tablesFor } from './lib/meshc.ts';
import { TARGET, targetService, withFillers } from './lib/services.ts';
import type { Tools } from './lib/tools.ts';
import { median } from './datapath/one-hop.ts';

export const CONNECT_SETUPS = ['direct', 'direct+hooks', 'meshc', 'iptables'] as const;
export type ConnectSetup = (typeof CONNECT_SETUPS)[number];

export interface ConnectOptions {
  sizes: number[];
  /** Sizes for which iptables is loaded (100,000 rules take tens of seconds to load). */
  iptablesSizes: number[];
  connects: number;
  warmup: number;
  rounds: number;
}

export function connectOptions(quick: boolean): ConnectOptions {
  return quick
    ? { sizes: [10, 1000, 10_000], iptablesSizes: [10, 1000, 10_000], connects: 4000, warmup: 1000, rounds: 1 }
    : { sizes: [10, 1000, 10_000, 100_000], iptablesSizes: [10, 1000, 10_000, 100_000], connects: 20_000, warmup: 2000, rounds: 3 };
}

export interface ConnectNs {
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface ConnectResult {
  conditions: Record<string, unknown>;
  rows: Array<{
    services: number;
    setup: ConnectSetup;
    /** Median over rounds of each statistic, ns. */
    ns: ConnectNs;
    rounds: ConnectNs[];
    errors: number;
  }>;
  /** Setup cost per size: iptables-restore time, meshc table compile + write time. */
  load: Array<{ services: number; iptablesRules?: number; iptablesLoadMs?: number; meshcCompileMs: number; meshcWriteMs: number }>;
  notMeasured: string[];
}

async function dial(lab: Lab, tools: Tools, where: Placement, addr: string, o: ConnectOptions): Promise<{ ns: ConnectNs; errors: number }> {
  const out = await lab.exec(where, [tools.connectbench, 'dial', addr, String(o.connects), String(o.warmup)]);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { errors: number; firstError: string; ns: ConnectNs };
  if (r.errors > 0) throw new Error(`connect() to ${addr}: ${r.errors} of ${o.connects} failed (${r.firstError})`);
  return r;
}

export async function benchConnect(lab: Lab, tools: Tools, objectPath: string, o: ConnectOptions, log: (line: string) => void): Promise<ConnectResult> {
  const pod = `${TARGET.podIP}:${TARGET.targetPort}`;
  const cluster = `${TARGET.clusterIP}:${TARGET.port}`;
  const meshNs = lab.netns('cm', [TARGET.podIP, TARGET.clusterIP]);
  const iptNs = lab.netns('ci', [TARGET.podIP, TARGET.clusterIP]);
  const plain = lab.cgroup('c-plain');
  const routed = lab.cgroup('c-routed');
  for (const ns of [meshNs, iptNs]) {
    const server = lab.spawn({ netns: ns, cgroup: plain, cpus: '1' }, [tools.connectbench, 'serve', pod], `connectbench serve (${ns})`);
    await server.waitLine((l) => l === 'ready');
  }
  const where: Record<ConnectSetup, Placement> = {
    direct: { netns: meshNs, cgroup: plain, cpus: '0' },
    'direct+hooks': { netns: meshNs, cgroup: routed, cpus: '0' },
    meshc: { netns: meshNs, cgroup: routed, cpus: '0' },
    iptables: { netns: iptNs, cgroup: plain, cpus: '0' },
  };
  const addr: Record<ConnectSetup, string> = { direct: pod, 'direct+hooks': pod, meshc: cluster, iptables: cluster };

  const rows: ConnectResult['rows'] = [];
  const load: ConnectResult['load'] = [];
  for (const n of o.sizes) {
    // kube-proxy's order: the target Service's rule last in KUBE-SERVICES.
    const specs = withFillers(n, [targetService()]).reverse();
    const t0 = performance.now();
    const tables = tablesFor(specs);
    const compileMs = performance.now() - t0;
    const pins = lab.pinDir(`c${n}`);
    const routing = Routing.attach(objectPath, pins, routed, tables);
    const entry: ConnectResult['load'][number] = { services: n, meshcCompileMs: compileMs, meshcWriteMs: routing.writeMs };
    let withIptables = false;
    try {
      if (o.iptablesSizes.includes(n)) {
        flushNat(iptNs);
        const loaded = loadRules(iptNs, specs);
        entry.iptablesRules = loaded.rules;
        entry.iptablesLoadMs = loaded.loadMs;
        withIptables = true;
      }
      load.push(entry);
      log(`  connect: ${n} services: meshc tables ${Math.round(compileMs)} ms + write ${Math.round(routing.writeMs)} ms` +
        (withIptables ? `, iptables-restore ${entry.iptablesRules} rules ${Math.round(entry.iptablesLoadMs!)} ms` : ', iptables not loaded at this size'));
      const setups = CONNECT_SETUPS.filter((s) => s !== 'iptables' || withIptables);
      const samples = new Map<ConnectSetup, ConnectNs[]>(setups.map((s) => [s, []]));
      // The first size also pays for cold caches: one untimed pass of every setup first.
      if (n === o.sizes[0]) for (const s of setups) await dial(lab, tools, where[s], addr[s], o);
      for (let round = 0; round < o.rounds; round++) {
        for (const s of setups) samples.get(s)!.push((await dial(lab, tools, where[s], addr[s], o)).ns);
      }
      for (const s of setups) {
        const list = samples.get(s)!;
        const m = (k: keyof ConnectNs) => median(list.map((x) => x[k]));
        const ns: ConnectNs = { min: m('min'), p50: m('p50'), p90: m('p90'), p99: m('p99'), p999: m('p999'), max: m('max'), mean: m('mean') };
        rows.push({ services: n, setup: s, ns, rounds: list, errors: 0 });
        log(`  connect: ${String(n).padStart(6)} services ${s.padEnd(13)} p50 ${(ns.p50 / 1000).toFixed(1).padStart(6)} µs  p99 ${(ns.p99 / 1000).toFixed(1).padStart(6)} µs`);
      }
    } finally {
      routing.close();
      removePins(pins);
    }
  }
  const notMeasured = o.sizes.filter((n) => !o.iptablesSizes.includes(n)).map((n) => `iptables with ${n} services (not loaded in this mode)`);
  if (!o.sizes.includes(100_000)) notMeasured.push('100,000 Services (meshc and iptables): full runs only, since building the tables and loading 300,001 iptables rules take tens of seconds');
  return {
    conditions: {
      connectsPerRound: o.connects,
      warmupConnects: o.warmup,
      rounds: o.rounds,
      reported: `median over ${o.rounds} round(s) of each statistic`,
      timer: 'clock_gettime(CLOCK_MONOTONIC) around each blocking connect(); the loopback handshake completes inside the call',
      close: 'SO_LINGER 0 (reset, no TIME_WAIT)',
      client: 'bench/lib/connectbench.c, pinned to CPU 0',
      server: 'bench/lib/connectbench.c serve (accept + close), pinned to CPU 1, backlog 65535',
      meshc: 'direct loader + writeTables, one endpoint per Service, default algorithm; hooks on the client\'s cgroup',
      iptables: 'kube-proxy-style nat OUTPUT chain in a namespace of its own (conntrack on), target Service last',
    },
    rows,
    load,
    notMeasured,
  };
}
