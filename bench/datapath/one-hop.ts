// Data path, one hop: the same HTTP/1.1 load against one nginx "pod" through each setup, at
// saturation (wrk) and at a fixed rate (loadgen), with keep-alive and with a new connection per
// request. Setups are interleaved within each round so that drift on the machine hits all of them.
//   (a) no mesh       client dials the pod IP
//   (b) meshc         client in the routed cgroup dials the ClusterIP; the connect hook rewrites it
//                     (10,000 Services in the maps)
//   (c) iptables      client dials the ClusterIP in a namespace with kube-proxy-style DNAT rules for
//                     10,000 Services, the target's last
//   (d) sidecars      client → client-side HAProxy → server-side HAProxy → pod, TCP and HTTP mode
//   (e) node proxy    client → one HAProxy (HTTP mode) → pod
import type { Lab, Placement, Proc } from '../lib/lab.ts';
import { processUsage, RT_PRIORITY, setRealtime } from '../lib/lab.ts';
import { fixedRate, saturate, type LoadResult } from '../lib/load.ts';
import { programRunTimes, Routing, runTimeDelta, withBpfStats, type ProgramRunTime } from '../lib/meshc.ts';
import { loadRules } from '../lib/iptables.ts';
import { startHaproxy, startNginx, PAYLOAD_BYTES } from '../lib/servers.ts';
import { TARGET, type ServiceSpec } from '../lib/services.ts';
import type { Tools } from '../lib/tools.ts';
import type { CompiledTables } from '../../src/tables/compile.ts';

export const CLIENT_POD = '10.244.1.1';
export const NODE_IP = '10.244.255.1';

export const SETUPS = [
  { id: 'no-mesh', label: '(a) no mesh' },
  { id: 'meshc', label: '(b) meshc' },
  { id: 'iptables', label: '(c) iptables DNAT' },
  { id: 'sidecar-tcp', label: '(d) sidecars, TCP mode' },
  { id: 'sidecar-http', label: '(d) sidecars, HTTP mode' },
  { id: 'node-proxy', label: '(e) node proxy, HTTP mode' },
] as const;
export type SetupId = (typeof SETUPS)[number]['id'];

export const MODES = ['keep-alive', 'close'] as const;
export type Mode = (typeof MODES)[number];
export const LOADS = ['saturation', 'fixed-rate'] as const;
export type LoadKind = (typeof LOADS)[number];

export interface OneHopOptions {
  quick: boolean;
  services: number;
  rounds: number;
  seconds: number;
  warmup: number;
  connections: number;
  rate: Record<Mode, number>;
}

export function oneHopOptions(quick: boolean): OneHopOptions {
  return quick
    ? { quick, services: 10_000, rounds: 1, seconds: 1, warmup: 0.2, connections: 16, rate: { 'keep-alive': 4000, close: 1500 } }
    : { quick, services: 10_000, rounds: 5, seconds: 5, warmup: 1, connections: 16, rate: { 'keep-alive': 4000, close: 1500 } };
}

/** One measured run: the load result and what the mesh spent outside the client and server. */
export interface Run {
  round: number;
  load: LoadResult;
  /** CPU of the setup's proxies (ms per 1,000 requests), 0 for setups without one. */
  proxyCpuMsPer1k: number;
  /** Resident memory of the setup's proxies after the run (MiB, summed). */
  proxyRssMiB: number;
}

export interface Cell {
  setup: SetupId;
  mode: Mode;
  load: LoadKind;
  runs: Run[];
  /** Medians over the rounds. */
  median: { requestsPerSecond: number; latencyUs: LoadResult['latencyUs']; errors: number; proxyCpuMsPer1k: number; proxyRssMiB: number };
}

export interface OneHopResult {
  conditions: Record<string, unknown>;
  cells: Cell[];
  /** meshc's programs' own run time (kernel.bpf_stats_enabled), per mode, from one extra fixed-rate run each. */
  meshcKernel: Array<{ mode: Mode; requests: number; programRuns: number; runTimeNs: number; nsPer1k: number; runsPerRequest: number; programs: ProgramRunTime[] }>;
  iptablesLoadMs: number;
  meshcTableWriteMs: number;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Target {
  where: Placement;
  addr: string;
  proxies: Proc[];
}

export async function benchOneHop(lab: Lab, tools: Tools, objectPath: string, services: { specs: ServiceSpec[]; tables: CompiledTables }, o: OneHopOptions, log: (line: string) => void): Promise<OneHopResult> {
  const pod = `${TARGET.podIP}:${TARGET.targetPort}`;
  const cluster = `${TARGET.clusterIP}:${TARGET.port}`;
  const netns = lab.netns('dp', [TARGET.podIP, TARGET.clusterIP, CLIENT_POD, NODE_IP]);
  const iptNetns = lab.netns('ipt', [TARGET.podIP, TARGET.clusterIP]);
  const plain = lab.cgroup('dp-plain');
  const routed = lab.cgroup('dp-routed');
  const client = (ns: string, cgroup: string): Placement => ({ netns: ns, cgroup, cpus: '0' });
  const serverAt = (ns: string): Placement => ({ netns: ns, cgroup: plain, cpus: '1' });
  const proxyAt: Placement = { netns, cgroup: plain };

  const servers = [await startNginx(lab, serverAt(netns), pod), await startNginx(lab, serverAt(iptNetns), pod)];
  const ipt = loadRules(iptNetns, services.specs);
  log(`  iptables: ${ipt.rules} rules for ${services.specs.length} services loaded in ${Math.round(ipt.loadMs)} ms`);
  const routing = Routing.attach(objectPath, lab.pinDir('dp'), routed, services.tables);
  lab.defer('detach meshc (data path)', () => routing.close());
  log(`  meshc: ${services.specs.length} services written in ${Math.round(routing.writeMs)} ms, hooks on ${routed}`);

  const tcpClientSide = await startHaproxy(lab, proxyAt, 'tcp', [{ listen: `${CLIENT_POD}:15001`, upstream: `${TARGET.podIP}:15006` }], 'haproxy sidecar tcp (client)');
  const tcpServerSide = await startHaproxy(lab, proxyAt, 'tcp', [{ listen: `${TARGET.podIP}:15006`, upstream: pod }], 'haproxy sidecar tcp (server)');
  const httpClientSide = await startHaproxy(lab, proxyAt, 'http', [{ listen: `${CLIENT_POD}:15011`, upstream: `${TARGET.podIP}:15016` }], 'haproxy sidecar http (client)');
  const httpServerSide = await startHaproxy(lab, proxyAt, 'http', [{ listen: `${TARGET.podIP}:15016`, upstream: pod }], 'haproxy sidecar http (server)');
  const nodeProxy = await startHaproxy(lab, proxyAt, 'http', [{ listen: `${NODE_IP}:15001`, upstream: pod }], 'haproxy node proxy');

  const targets: Record<SetupId, Target> = {
    'no-mesh': { where: client(netns, plain), addr: pod, proxies: [] },
    meshc: { where: client(netns, routed), addr: cluster, proxies: [] },
    iptables: { where: client(iptNetns, plain), addr: cluster, proxies: [] },
    'sidecar-tcp': { where: client(netns, plain), addr: `${CLIENT_POD}:15001`, proxies: [tcpClientSide, tcpServerSide] },
    'sidecar-http': { where: client(netns, plain), addr: `${CLIENT_POD}:15011`, proxies: [httpClientSide, httpServerSide] },
    'node-proxy': { where: client(netns, plain), addr: `${NODE_IP}:15001`, proxies: [nodeProxy] },
  };

  const longRunning = [...servers, tcpClientSide, tcpServerSide, httpClientSide, httpServerSide, nodeProxy];
  const measure = async (t: Target, mode: Mode, load: LoadKind): Promise<LoadResult> => {
    const options = { connections: o.connections, seconds: o.seconds, close: mode === 'close' };
    if (load === 'saturation') return saturate(lab, t.where, `http://${t.addr}/`, options);
    setRealtime(longRunning, true);
    try {
      return await fixedRate(lab, { ...t.where, realtime: true }, tools, t.addr, { ...options, rate: o.rate[mode], warmup: o.warmup });
    } finally {
      setRealtime(longRunning, false);
    }
  };

  // Warm every path once (first connections, caches), and fail early if one does not work.
  for (const s of SETUPS) {
    const t = targets[s.id];
    await fixedRate(lab, t.where, tools, t.addr, { connections: o.connections, seconds: 0.5, close: false, rate: 1000, warmup: 0 }).catch((e: Error) => {
      throw new Error(`${s.label}: warm-up failed: ${e.message}`);
    });
  }

  const cells = new Map<string, Cell>();
  for (let round = 0; round < o.rounds; round++) {
    for (const mode of MODES) {
      for (const load of LOADS) {
        for (const s of SETUPS) {
          const t = targets[s.id];
          const before = t.proxies.map((p) => processUsage(p.pid));
          const result = await measure(t, mode, load);
          const after = t.proxies.map((p) => processUsage(p.pid));
          const cpuNs = after.reduce((sum, a, i) => sum + a.cpuNs - before[i]!.cpuNs, 0);
          const run: Run = {
            round,
            load: result,
            proxyCpuMsPer1k: result.completed > 0 ? (cpuNs / 1e6 / result.completed) * 1000 : 0,
            proxyRssMiB: after.reduce((sum, a) => sum + a.rssKiB, 0) / 1024,
          };
          if (result.errors > 0) log(`  ${s.label} ${mode} ${load}: ${result.errors} errors`);
          const key = `${s.id}/${mode}/${load}`;
          const cell = cells.get(key) ?? { setup: s.id, mode, load, runs: [], median: undefined as unknown as Cell['median'] };
          cell.runs.push(run);
          cells.set(key, cell);
          log(`  round ${round + 1}/${o.rounds} ${mode.padEnd(10)} ${load.padEnd(10)} ${s.label.padEnd(26)} ${Math.round(result.requestsPerSecond).toString().padStart(7)} req/s  p50 ${result.latencyUs.p50.toFixed(0).padStart(6)} µs  p99 ${result.latencyUs.p99.toFixed(0).padStart(6)} µs`);
        }
      }
    }
  }
  for (const cell of cells.values()) {
    const m = (f: (r: Run) => number) => median(cell.runs.map(f));
    cell.median = {
      requestsPerSecond: m((r) => r.load.requestsPerSecond),
      latencyUs: {
        p50: m((r) => r.load.latencyUs.p50),
        p90: m((r) => r.load.latencyUs.p90),
        p99: m((r) => r.load.latencyUs.p99),
        p999: m((r) => r.load.latencyUs.p999),
        max: m((r) => r.load.latencyUs.max),
        mean: m((r) => r.load.latencyUs.mean),
      },
      errors: cell.runs.reduce((s, r) => s + r.load.errors, 0),
      proxyCpuMsPer1k: m((r) => r.proxyCpuMsPer1k),
      proxyRssMiB: m((r) => r.proxyRssMiB),
    };
  }

  // meshc's in-kernel cost, in runs of their own: the stats cost two clock reads per program run,
  // so they stay off during the latency runs above.
  const ids = routing.programIds();
  const meshcKernel: OneHopResult['meshcKernel'] = [];
  for (const mode of MODES) {
    const { result, programs } = await withBpfStats(async () => {
      const before = programRunTimes(ids);
      const result = await measure(targets.meshc, mode, 'fixed-rate');
      return { result, programs: runTimeDelta(before, programRunTimes(ids)) };
    });
    const runTimeNs = programs.reduce((sum, p) => sum + p.runTimeNs, 0);
    const runs = programs.reduce((sum, p) => sum + p.runCount, 0);
    meshcKernel.push({
      mode,
      requests: result.completed,
      programRuns: runs,
      runTimeNs,
      nsPer1k: (runTimeNs / result.completed) * 1000,
      runsPerRequest: runs / result.completed,
      programs,
    });
  }

  return {
    conditions: {
      services: services.specs.length,
      rounds: o.rounds,
      secondsPerRun: o.seconds,
      fixedRateWarmupSeconds: o.warmup,
      connections: o.connections,
      fixedRate: o.rate,
      payloadBytes: PAYLOAD_BYTES,
      request: 'GET / HTTP/1.1, no body',
      client: 'wrk -t1 (saturation, closed loop) and bench/lib/loadgen.c (fixed rate, open loop, latency from each request\'s due time), pinned to CPU 0',
      scheduling: `fixed-rate runs: client, server and proxies under SCHED_FIFO ${RT_PRIORITY} (the machine is shared with other work; under normal scheduling a neighbour\'s busy process puts milliseconds into p99); saturation runs: normal scheduling`,
      server: 'nginx (Debian nginx-light), one worker, master_process off, return 200 with the payload, pinned to CPU 1',
      proxies: 'HAProxy (Debian), nbthread 1 each, unpinned; HTTP mode with keep-alive and http-reuse always. Envoy is not packaged in Debian bookworm, so it is not measured.',
      sidecarPath: 'the client dials its sidecar\'s address directly: the iptables REDIRECT that steers traffic into a real sidecar is not included (it would only add to the sidecar figures)',
      nodeProxyPath: 'the client dials the node proxy directly (in meshc\'s hybrid path the connect hook would send it there)',
      meshc: 'direct loader (src/loader/index.ts loadObject) + writeTables, 9 hooks on the client\'s cgroup v2; the no-mesh client runs in a cgroup without hooks',
      iptables: `kube-proxy-style nat OUTPUT → KUBE-SERVICES (${services.specs.length} rules, target last) → KUBE-SVC → KUBE-SEP DNAT, in a namespace of its own (so conntrack and the nat chain touch only setup (c)); ${ipt.iptables}`,
      proxyCost: 'CPU from /proc/<pid>/task/*/schedstat (ns) before and after each run, per 1,000 requests; memory = VmRSS after the run',
      reported: `median of ${o.rounds} round(s)`,
    },
    cells: [...cells.values()],
    meshcKernel,
    iptablesLoadMs: ipt.loadMs,
    meshcTableWriteMs: routing.writeMs,
  };
}
