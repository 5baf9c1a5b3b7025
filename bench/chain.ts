// Five-service chain: client → svc1 → svc2 → svc3 → svc4 → svc5, each service a small Node.js HTTP
// server that calls the next over a keep-alive pool before it answers. Measured end to end at a
// fixed rate for (a) no mesh (services dial pod IPs), (b) meshc (services and client in the routed
// cgroup dial ClusterIPs) and (d) sidecars (one HAProxy per pod, HTTP mode, with an inbound and an
// outbound listener, as a sidecar has; the client pod has one too): 5 hops, 10 proxy traversals.
import type { Lab, Placement, Proc } from './lib/lab.ts';
import { processUsage } from './lib/lab.ts';
import { fixedRate, type LoadResult } from './lib/load.ts';
import { Routing, tablesFor } from './lib/meshc.ts';
import { PAYLOAD_BYTES, startChainServer, startHaproxy } from './lib/servers.ts';
import { withFillers, type ServiceSpec } from './lib/services.ts';
import type { Tools } from './lib/tools.ts';
import { median } from './datapath/one-hop.ts';

export const CHAIN_SETUPS = [
  { id: 'no-mesh', label: '(a) no mesh' },
  { id: 'meshc', label: '(b) meshc' },
  { id: 'sidecar-http', label: '(d) sidecars, HTTP mode' },
] as const;
export type ChainSetupId = (typeof CHAIN_SETUPS)[number]['id'];

const HOPS = 5;
const pod = (i: number) => `10.244.2.${i}`;
const clusterIP = (i: number) => `10.96.2.${i}`;
const CLIENT_POD = '10.244.3.1';
const PORT = { 'no-mesh': 8080, meshc: 8081, 'sidecar-http': 8082 } as const;

export interface ChainOptions {
  rounds: number;
  seconds: number;
  warmup: number;
  rate: number;
  connections: number;
  services: number;
}

export function chainOptions(quick: boolean): ChainOptions {
  return quick
    ? { rounds: 1, seconds: 1.5, warmup: 0.3, rate: 500, connections: 16, services: 10_000 }
    : { rounds: 5, seconds: 6, warmup: 1, rate: 500, connections: 16, services: 10_000 };
}

export interface ChainResult {
  conditions: Record<string, unknown>;
  setups: Array<{
    setup: ChainSetupId;
    runs: Array<{ round: number; load: LoadResult; proxyCpuMsPer1k: number; proxyRssMiB: number }>;
    median: { latencyUs: LoadResult['latencyUs']; errors: number; proxyCpuMsPer1k: number; proxyRssMiB: number };
    /** (p50, p99 of this setup − the same of (a)) / 5 hops, µs. */
    perHopAddedUs: { p50: number; p99: number };
  }>;
}

export async function benchChain(lab: Lab, tools: Tools, objectPath: string, o: ChainOptions, log: (line: string) => void): Promise<ChainResult> {
  const pods = Array.from({ length: HOPS }, (_, i) => pod(i + 1));
  const netns = lab.netns('chain', [...pods, ...pods.map((_, i) => clusterIP(i + 1)), CLIENT_POD]);
  const plain = lab.cgroup('chain-plain');
  const routed = lab.cgroup('chain-routed');
  const at = (cgroup: string, cpus?: string): Placement => ({ netns, cgroup, cpus });

  const chainServices: ServiceSpec[] = pods.map((p, i) => ({ name: `chain-${i + 1}`, clusterIP: clusterIP(i + 1), port: 80, targetPort: PORT.meshc, pods: [p] }));
  const routing = Routing.attach(objectPath, lab.pinDir('chain'), routed, tablesFor(withFillers(o.services, chainServices)));
  lab.defer('detach meshc (chain)', () => routing.close());

  // Start from the last service, so each one's next is already listening.
  for (let i = HOPS; i >= 1; i--) {
    const last = i === HOPS;
    await startChainServer(lab, at(plain), `${pod(i)}:${PORT['no-mesh']}`, last ? undefined : `${pod(i + 1)}:${PORT['no-mesh']}`, `chain a svc${i}`);
    await startChainServer(lab, at(routed), `${pod(i)}:${PORT.meshc}`, last ? undefined : `${clusterIP(i + 1)}:80`, `chain b svc${i}`);
    await startChainServer(lab, at(plain), `${pod(i)}:${PORT['sidecar-http']}`, last ? undefined : `${pod(i)}:15001`, `chain d svc${i}`);
  }
  const proxies: Proc[] = [];
  for (let i = 1; i <= HOPS; i++) {
    const frontends = [{ listen: `${pod(i)}:15006`, upstream: `${pod(i)}:${PORT['sidecar-http']}` }];
    if (i < HOPS) frontends.push({ listen: `${pod(i)}:15001`, upstream: `${pod(i + 1)}:15006` });
    proxies.push(await startHaproxy(lab, at(plain), 'http', frontends, `chain sidecar svc${i}`));
  }
  proxies.push(await startHaproxy(lab, at(plain), 'http', [{ listen: `${CLIENT_POD}:15001`, upstream: `${pod(1)}:15006` }], 'chain sidecar client'));

  const targets: Record<ChainSetupId, { where: Placement; addr: string; proxies: Proc[] }> = {
    'no-mesh': { where: at(plain, '0'), addr: `${pod(1)}:${PORT['no-mesh']}`, proxies: [] },
    meshc: { where: at(routed, '0'), addr: `${clusterIP(1)}:80`, proxies: [] },
    'sidecar-http': { where: at(plain, '0'), addr: `${CLIENT_POD}:15001`, proxies },
  };
  // Normal scheduling here, unlike the one-hop latency runs: Node.js is multi-threaded and its GC
  // helpers spin-wait; under SCHED_FIFO on two cores they starved each other and the run hung.
  const load = (addr: string, where: Placement, seconds: number, warmup: number) =>
    fixedRate(lab, where, tools, addr, { connections: o.connections, seconds, warmup, close: false, rate: o.rate });

  for (const s of CHAIN_SETUPS) {
    await load(targets[s.id].addr, targets[s.id].where, 0.5, 0).catch((e: Error) => {
      throw new Error(`chain ${s.label}: warm-up failed: ${e.message}`);
    });
  }
  const runs = new Map<ChainSetupId, ChainResult['setups'][number]['runs']>(CHAIN_SETUPS.map((s) => [s.id, []]));
  for (let round = 0; round < o.rounds; round++) {
    for (const s of CHAIN_SETUPS) {
      const t = targets[s.id];
      const before = t.proxies.map((p) => processUsage(p.pid));
      const result = await load(t.addr, t.where, o.seconds, o.warmup);
      const after = t.proxies.map((p) => processUsage(p.pid));
      const cpuNs = after.reduce((sum, a, i) => sum + a.cpuNs - before[i]!.cpuNs, 0);
      runs.get(s.id)!.push({
        round,
        load: result,
        proxyCpuMsPer1k: result.completed > 0 ? (cpuNs / 1e6 / result.completed) * 1000 : 0,
        proxyRssMiB: after.reduce((sum, a) => sum + a.rssKiB, 0) / 1024,
      });
      log(`  chain round ${round + 1}/${o.rounds} ${s.label.padEnd(26)} p50 ${result.latencyUs.p50.toFixed(0).padStart(6)} µs  p99 ${result.latencyUs.p99.toFixed(0).padStart(6)} µs  errors ${result.errors}`);
    }
  }
  const setups = CHAIN_SETUPS.map((s) => {
    const r = runs.get(s.id)!;
    const m = (f: (x: (typeof r)[number]) => number) => median(r.map(f));
    return {
      setup: s.id,
      runs: r,
      median: {
        latencyUs: {
          p50: m((x) => x.load.latencyUs.p50),
          p90: m((x) => x.load.latencyUs.p90),
          p99: m((x) => x.load.latencyUs.p99),
          p999: m((x) => x.load.latencyUs.p999),
          max: m((x) => x.load.latencyUs.max),
          mean: m((x) => x.load.latencyUs.mean),
        },
        errors: r.reduce((sum, x) => sum + x.load.errors, 0),
        proxyCpuMsPer1k: m((x) => x.proxyCpuMsPer1k),
        proxyRssMiB: m((x) => x.proxyRssMiB),
      },
      perHopAddedUs: { p50: 0, p99: 0 },
    };
  });
  const base = setups[0]!.median.latencyUs;
  for (const s of setups) s.perHopAddedUs = { p50: (s.median.latencyUs.p50 - base.p50) / HOPS, p99: (s.median.latencyUs.p99 - base.p99) / HOPS };
  return {
    conditions: {
      hops: HOPS,
      services: 'Node.js http servers (one process each, unpinned), keep-alive pool to the next hop',
      proxyTraversals: { 'no-mesh': 0, meshc: 0, 'sidecar-http': 2 * HOPS },
      sidecars: `one HAProxy per pod (nbthread 1, HTTP mode, inbound and outbound listeners): ${proxies.length} processes`,
      meshcServices: o.services,
      rate: o.rate,
      connections: o.connections,
      secondsPerRun: o.seconds,
      warmupSeconds: o.warmup,
      rounds: o.rounds,
      payloadBytes: PAYLOAD_BYTES,
      client: 'bench/lib/loadgen.c, fixed rate, keep-alive, pinned to CPU 0',
      scheduling: 'normal (SCHED_OTHER) for every process: Node.js under SCHED_FIFO livelocked on two cores; the machine is shared with other work, so tail percentiles include the neighbours\' load, and the medians over rounds are what to compare',
      reported: `median of ${o.rounds} round(s)`,
    },
    setups,
  };
}
