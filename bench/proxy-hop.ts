// `npx tsx bench/proxy-hop.ts [--rounds N] [--seconds S]`: the L7 path as the agent runs it, next
// to no mesh, the L4 path and a pair of HTTP sidecars, in one run, setups interleaved per round:
//   (a) no mesh       the client dials the pod (nginx)
//   (b) meshc L4      the client, in the routed cgroup, dials an L4 Service's ClusterIP
//   (d) sidecars      client -> client-side HAProxy -> server-side HAProxy -> pod (HTTP mode)
//   (f) meshc L7      the client, in the routed cgroup, dials an L7 Service's ClusterIP (a header
//                     rule and a catch-all): connect() is steered through the tables to the node
//                     proxy (ProxySupervisor, the generated configuration) at the node address
// For keep-alive and a connection per request: p50/p99 at a fixed rate (loadgen), throughput at
// saturation (wrk), the proxies' CPU per 1,000 requests and RSS. The issue's targets: the L7
// path's added p99 (over no mesh) and its CPU per 1,000 requests at most half of the sidecar
// pair's. Writes bench/results/proxy-hop.json.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab, processUsage, run, RT_PRIORITY, type Placement, type Proc } from './lib/lab.ts';
import { fixedRate, saturate, type LoadResult } from './lib/load.ts';
import { buildObject, Routing } from './lib/meshc.ts';
import { startChainServer, startHaproxy, startNginx, PAYLOAD_BYTES } from './lib/servers.ts';
import { buildTools, missingTools, versions } from './lib/tools.ts';
import { buildModel } from '../src/model/build.ts';
import { compileTables } from '../src/tables/compile.ts';
import { ProxySupervisor } from '../src/proxy/supervisor.ts';
import { frontendServing } from '../src/proxy/serving.ts';
import { sectionName } from '../src/proxy/config-words.ts';
import { median } from './datapath/one-hop.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const POD = '10.244.0.10';
const POD_V2 = '10.244.0.11';
const CLIENT_POD = '10.244.1.1';
const NODE_IP = '10.244.255.1';
const L7_VIP = '10.96.0.10';
const L4_VIP = '10.96.0.20';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '4' }, quick: { type: 'boolean' }, 'no-chain': { type: 'boolean' },
    modes: { type: 'string' }, variants: { type: 'string' }, 'chain-rounds': { type: 'string' }, out: { type: 'string' },
  },
});
const rounds = values.quick ? 1 : Number(values.rounds);
const seconds = values.quick ? 1 : Number(values.seconds);
const RATE = { 'keep-alive': 2000, close: 800 } as const;
/** The chain's rounds: more than the hop's, its latency is the noisiest figure (default 3 × rounds). */
const chainRounds = values.quick ? 1 : Number(values['chain-rounds'] ?? rounds * 3);
const CONNECTIONS = 16;

const BASE_SETUPS = [
  { id: 'no-mesh', label: '(a) no mesh' },
  { id: 'meshc-l4', label: '(b) meshc L4' },
  { id: 'sidecar-http', label: '(d) sidecar pair, HTTP' },
  { id: 'meshc-l7', label: '(f) meshc L7 (node proxy)' },
] as const;
type SetupId = string;
const ALL_MODES = ['keep-alive', 'close'] as const;
type Mode = (typeof ALL_MODES)[number];
const MODES: Mode[] = values.modes ? (values.modes.split(',') as Mode[]) : [...ALL_MODES];
for (const m of MODES) if (!ALL_MODES.includes(m)) throw new Error(`--modes: unknown mode ${m} (known: ${ALL_MODES.join(', ')})`);

/**
 * Variants of the generated configuration, for tuning (`--variants a,b`): the node proxy's file
 * with one change, run as a plain HAProxy of its own on another port, dialled directly (the
 * steering hop is the L4 path's, measured in (b)); the variant `as-is` changes nothing, so a
 * variant compares with it rather than with (f).
 */
const VARIANTS: Record<string, { about: string; edit: (cfg: string) => string }> = {
  'as-is': { about: 'the generated file unchanged', edit: (c) => c },
  'threads-default': { about: "no nbthread line (HAProxy's default: one thread per CPU)", edit: (c) => c.replace(/^\s*nbthread \d+\n/m, '') },
  nbthread2: { about: 'nbthread 2', edit: (c) => c.replace(/^\s*nbthread \d+$/m, '    nbthread 2') },
  'server-close': { about: 'option http-server-close (no idle pod connections kept)', edit: (c) => c.replace(/^defaults$/m, 'defaults\n    option http-server-close') },
  'reuse-safe': { about: 'http-reuse safe instead of always', edit: (c) => c.replace('http-reuse always', 'http-reuse safe') },
  nolog: { about: 'no log global in defaults (no log line built per connection)', edit: (c) => c.replace(/^\s*log global\n/m, '') },
  'maxaccept': { about: 'tune.maxaccept -1 (accept without a per-round limit)', edit: (c) => c.replace(/^global$/m, 'global\n    tune.maxaccept -1') },

};
const VARIANT_NAMES = values.variants ? values.variants.split(',') : [];
for (const v of VARIANT_NAMES) if (!VARIANTS[v]) throw new Error(`--variants: unknown variant ${v} (known: ${Object.keys(VARIANTS).join(', ')})`);
const SETUPS: { id: string; label: string }[] = [...BASE_SETUPS, ...VARIANT_NAMES.map((v) => ({ id: `l7-${v}`, label: `(f) variant ${v}` }))];

// The five-service chain: client -> svc1 -> ... -> svc5, Node.js services that call the next.
const HOPS = 5;
const chainPod = (i: number) => `10.244.3.${i}`;
const chainL4 = (i: number) => `10.96.3.${i}`;
const chainL7 = (i: number) => `10.96.4.${i}`;
const CHAIN_PORT = { plain: 8080, l4: 8081, l7: 8082, sidecar: 8083 } as const;
const CHAIN_SETUPS = [
  { id: 'no-mesh', label: '(a) no mesh' },
  { id: 'meshc-l4', label: '(b) meshc L4' },
  { id: 'sidecar-http', label: '(d) sidecars, HTTP' },
  { id: 'meshc-l7', label: '(f) meshc L7 (node proxy)' },
] as const;

function objects(): object[] {
  const service = (name: string, vip: string, pod: string) => [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'bench' }, spec: { clusterIP: vip, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, namespace: 'bench', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: [pod], conditions: { ready: true } }],
    },
  ];
  const chain: object[] = [];
  for (let i = 1; i <= HOPS; i++) {
    const l4 = service(`chain-l4-${i}`, chainL4(i), chainPod(i));
    const l7 = service(`chain-l7-${i}`, chainL7(i), chainPod(i));
    // The same pod, another port per setup (the Services' targetPort).
    (l4[0] as { spec: { ports: { targetPort: number }[] } }).spec.ports[0]!.targetPort = CHAIN_PORT.l4;
    (l4[1] as { ports: { port: number }[] }).ports[0]!.port = CHAIN_PORT.l4;
    (l7[0] as { spec: { ports: { targetPort: number }[] } }).spec.ports[0]!.targetPort = CHAIN_PORT.l7;
    (l7[1] as { ports: { port: number }[] }).ports[0]!.port = CHAIN_PORT.l7;
    chain.push(...l4, ...l7, {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: `chain-l7-${i}`, namespace: 'bench' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: `chain-l7-${i}`, port: 80 }],
        rules: [
          { matches: [{ headers: [{ name: 'X-Canary-User', value: 'true' }] }], backendRefs: [{ name: `chain-l7-${i}`, port: 80 }] },
          { backendRefs: [{ name: `chain-l7-${i}`, port: 80 }] },
        ],
      },
    });
  }
  return [
    ...chain,
    ...service('web', L7_VIP, POD),
    ...service('web-v1', '10.96.0.11', POD),
    ...service('web-v2', '10.96.0.12', POD_V2),
    ...service('plain', L4_VIP, POD),
    {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web', namespace: 'bench' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'web', port: 80 }],
        rules: [
          { matches: [{ headers: [{ name: 'X-Canary-User', value: 'true' }] }], backendRefs: [{ name: 'web-v2', port: 80 }] },
          { backendRefs: [{ name: 'web-v1', port: 80 }] },
        ],
      },
    },
  ];
}

/** A process and every process below it. */
function tree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    for (const task of safeList(`/proc/${pids[i]}/task`)) {
      for (const child of safeRead(`/proc/${pids[i]}/task/${task}/children`).split(' ').filter(Boolean)) pids.push(Number(child));
    }
  }
  return pids;
}

/**
 * SCHED_FIFO for the fixed-rate runs, as bench/datapath/one-hop.ts does: on this shared machine
 * another tenant's busy process otherwise delays wake-ups by milliseconds, and p99 measures the
 * neighbours. Every thread of the servers and proxies (the node proxy's master and workers).
 */
function realtime(pids: number[], on: boolean): void {
  for (const pid of pids) {
    try {
      run('chrt', ['-a', ...(on ? ['-f', '-p', String(RT_PRIORITY)] : ['-o', '-p', '0']), String(pid)]);
    } catch {
      // gone meanwhile
    }
  }
}

/** CPU (ns) and RSS (KiB) of a process and every process below it. */
function treeUsage(pid: number): { cpuNs: number; rssKiB: number } {
  const pids = tree(pid);
  let cpuNs = 0;
  let rssKiB = 0;
  for (const p of pids) {
    try {
      const u = processUsage(p);
      cpuNs += u.cpuNs;
      rssKiB += u.rssKiB;
    } catch {
      // gone meanwhile
    }
  }
  return { cpuNs, rssKiB };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

interface Target {
  where: Placement;
  addr: string;
  /** What the proxies of the setup used, read before and after a run. */
  usage: () => { cpuNs: number; rssKiB: number };
}

async function main(): Promise<void> {
  const missing = missingTools(['wrk', 'nginx', 'haproxy', 'gcc', 'taskset', 'ip', 'nsenter']);
  if (missing.length > 0) throw new Error(`bench/proxy-hop.ts needs: ${missing.join(', ')}`);
  const lab = new Lab();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'meshc-proxy-hop-'));
  lab.defer(`dir ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const loadBefore = os.loadavg();
  try {
    const tools = buildTools();
    lab.defer('tools', () => rmSync(tools.dir, { recursive: true, force: true }));
    const objectPath = await buildObject(path.join(tmp, 'object'));
    const chainPods = Array.from({ length: HOPS }, (_, i) => chainPod(i + 1));
    const netns = lab.netns('hop', [POD, POD_V2, CLIENT_POD, NODE_IP, L7_VIP, L4_VIP, ...chainPods]);
    const plain = lab.cgroup('hop-plain');
    const routed = lab.cgroup('hop-routed');
    const client = (cgroup: string): Placement => ({ netns, cgroup, cpus: '0' });
    const servers = [await startNginx(lab, { netns, cgroup: plain, cpus: '1' }, `${POD}:8080`), await startNginx(lab, { netns, cgroup: plain, cpus: '1' }, `${POD_V2}:8080`)];

    // The node proxy as the agent runs it: the tables steer web's ClusterIP to its listener.
    const supervisor = new ProxySupervisor({ dir: path.join(tmp, 'proxy'), bindAddress: NODE_IP, prefix: ['nsenter', `--net=/run/netns/${netns}`] });
    lab.defer('node proxy', () => supervisor.stop());
    const model = buildModel(objects().map((object, doc) => ({ file: 'bench', doc, object })));
    const tables = compileTables(model, {
      proxy: (f) => (frontendServing(f).producer.layer === 'L7'
        ? { address: NODE_IP, port: supervisor.listenerPort(sectionName(f.service.meta.namespace, f.service.meta.name, String(f.port.port))) }
        : undefined),
    });
    const web = tables.frontends.find((f) => f.service.meta.name === 'web')!;
    if (!web.steered) throw new Error('web is not steered to the node proxy');
    const applied = await supervisor.apply(tables);
    log(`  node proxy: ${applied.action} in ${applied.ms} ms, web steered to ${NODE_IP}:${web.steered.port}`);
    const routing = Routing.attach(objectPath, lab.pinDir('hop'), routed, tables);
    lab.defer('detach meshc', () => routing.close());

    const sidecars: Proc[] = [
      await startHaproxy(lab, { netns, cgroup: plain }, 'http', [{ listen: `${CLIENT_POD}:15011`, upstream: `${POD}:15016` }], 'sidecar (client)'),
      await startHaproxy(lab, { netns, cgroup: plain }, 'http', [{ listen: `${POD}:15016`, upstream: `${POD}:8080` }], 'sidecar (server)'),
    ];
    const none = () => ({ cpuNs: 0, rssKiB: 0 });
    const generated = readFileSync(path.join(tmp, 'proxy', 'haproxy.cfg'), 'utf8');
    const variantProcs: Proc[] = [];
    const variantTargets: Record<string, Target> = {};
    for (const [i, v] of VARIANT_NAMES.entries()) {
      const port = 18100 + i;
      const text = VARIANTS[v]!.edit(generated)
        .replace(/^\s*stats socket .*\n/m, '')
        .replace(new RegExp(`bind ${NODE_IP.replace(/\./g, '\\.')}:${web.steered.port}\\b`), `bind ${NODE_IP}:${port}`);
      if (text.includes(`${NODE_IP}:${web.steered.port}`)) throw new Error(`variant ${v}: the listener's port is still in the file`);
      const file = path.join(tmp, `variant-${v}.cfg`);
      writeFileSync(file, text);
      const proc = lab.spawn({ netns, cgroup: plain }, ['haproxy', '-db', '-f', file], `node proxy variant ${v}`);
      await proc.listening(port);
      variantProcs.push(proc);
      variantTargets[`l7-${v}`] = { where: client(plain), addr: `${NODE_IP}:${port}`, usage: () => treeUsage(proc.pid) };
    }
    const targets: Record<SetupId, Target> = {
      ...variantTargets,
      'no-mesh': { where: client(plain), addr: `${POD}:8080`, usage: none },
      'meshc-l4': { where: client(routed), addr: `${L4_VIP}:80`, usage: none },
      'sidecar-http': {
        where: client(plain), addr: `${CLIENT_POD}:15011`,
        usage: () => sidecars.map((p) => treeUsage(p.pid)).reduce((a, b) => ({ cpuNs: a.cpuNs + b.cpuNs, rssKiB: a.rssKiB + b.rssKiB })),
      },
      'meshc-l7': { where: client(routed), addr: `${L7_VIP}:80`, usage: () => treeUsage(supervisor.masterPid!) },
    };

    for (const s of SETUPS) {
      const r = await fixedRate(lab, targets[s.id].where, tools, targets[s.id].addr, { connections: CONNECTIONS, seconds: 0.5, warmup: 0, close: false, rate: 500 });
      if (r.errors > 0 || r.requests === 0) throw new Error(`${s.label}: warm-up failed (${r.errors} errors of ${r.requests})`);
    }
    type Run = { round: number; fixed: LoadResult; saturation: LoadResult; proxyCpuMsPer1k: number; proxyRssMiB: number };
    const runs = new Map<string, Run[]>();
    for (let round = 0; round < rounds; round++) {
      for (const mode of MODES) {
        for (const s of SETUPS) {
          const t = targets[s.id];
          const before = t.usage();
          const longRunning = [...servers, ...sidecars, ...variantProcs].map((p) => p.pid).concat(tree(supervisor.masterPid!));
          realtime(longRunning, true);
          let fixed: LoadResult;
          try {
            fixed = await fixedRate(lab, { ...t.where, realtime: true }, tools, t.addr, { connections: CONNECTIONS, seconds, warmup: 0.5, close: mode === 'close', rate: RATE[mode] });
          } finally {
            realtime(longRunning, false);
          }
          const after = t.usage();
          const saturation = await saturate(lab, t.where, `http://${t.addr}/`, { connections: CONNECTIONS, seconds, close: mode === 'close' });
          const key = `${s.id}/${mode}`;
          const run: Run = {
            round, fixed, saturation,
            proxyCpuMsPer1k: fixed.completed > 0 ? ((after.cpuNs - before.cpuNs) / 1e6 / fixed.completed) * 1000 : 0,
            proxyRssMiB: after.rssKiB / 1024,
          };
          runs.set(key, [...(runs.get(key) ?? []), run]);
          log(`  round ${round + 1}/${rounds} ${mode.padEnd(10)} ${s.label.padEnd(27)} p50 ${fixed.latencyUs.p50.toFixed(0).padStart(5)} µs  p99 ${fixed.latencyUs.p99.toFixed(0).padStart(6)} µs  ${saturation.requestsPerSecond.toFixed(0).padStart(6)} req/s  proxy ${run.proxyCpuMsPer1k.toFixed(1)} ms/1k  errors ${fixed.errors + saturation.errors}`);
        }
      }
    }
    const cells = [...runs].map(([key, r]) => {
      const [setup, mode] = key.split('/') as [SetupId, Mode];
      const m = (f: (x: Run) => number) => median(r.map(f));
      return {
        setup, mode, runs: r,
        median: {
          p50: m((x) => x.fixed.latencyUs.p50), p99: m((x) => x.fixed.latencyUs.p99),
          requestsPerSecond: m((x) => x.saturation.requestsPerSecond),
          errors: r.reduce((n, x) => n + x.fixed.errors + x.saturation.errors, 0),
          proxyCpuMsPer1k: m((x) => x.proxyCpuMsPer1k), proxyRssMiB: m((x) => x.proxyRssMiB),
        },
      };
    });
    const cell = (setup: SetupId, mode: Mode) => cells.find((c) => c.setup === setup && c.mode === mode)!.median;
    const variants = VARIANT_NAMES.flatMap((v) => MODES.map((mode) => {
      const base = cell('no-mesh', mode);
      const asIs = VARIANT_NAMES.includes('as-is') ? cell('l7-as-is', mode) : undefined;
      const c = cell(`l7-${v}`, mode);
      const r = {
        variant: v, about: VARIANTS[v]!.about, mode, addedP99Us: c.p99 - base.p99, cpuMsPer1k: c.proxyCpuMsPer1k,
        cpuVsAsIs: asIs && asIs.proxyCpuMsPer1k > 0 ? c.proxyCpuMsPer1k / asIs.proxyCpuMsPer1k : null,
        addedP99VsAsIs: asIs && asIs.p99 - base.p99 > 0 ? (c.p99 - base.p99) / (asIs.p99 - base.p99) : null,
      };
      log(`  variant ${v.padEnd(16)} ${mode.padEnd(10)} added p99 ${r.addedP99Us.toFixed(0)} µs (×${r.addedP99VsAsIs?.toFixed(2)} of as-is), CPU/1k ${r.cpuMsPer1k.toFixed(1)} ms (×${r.cpuVsAsIs?.toFixed(2)} of as-is)`);
      return r;
    }));
    const targetsMet = MODES.map((mode) => {
      const base = cell('no-mesh', mode);
      const l7 = cell('meshc-l7', mode);
      const pair = cell('sidecar-http', mode);
      const added = { l7: l7.p99 - base.p99, sidecars: pair.p99 - base.p99 };
      return {
        mode,
        addedP99Us: added,
        addedP99Ratio: added.sidecars > 0 ? added.l7 / added.sidecars : null,
        cpuMsPer1k: { l7: l7.proxyCpuMsPer1k, sidecars: pair.proxyCpuMsPer1k },
        cpuRatio: pair.proxyCpuMsPer1k > 0 ? l7.proxyCpuMsPer1k / pair.proxyCpuMsPer1k : null,
      };
    });
    for (const t of targetsMet) {
      log(`  ${t.mode}: added p99 L7 ${t.addedP99Us.l7.toFixed(0)} µs vs sidecar pair ${t.addedP99Us.sidecars.toFixed(0)} µs (ratio ${t.addedP99Ratio?.toFixed(2)}, target <= 0.5); CPU/1k L7 ${t.cpuMsPer1k.l7.toFixed(1)} ms vs pair ${t.cpuMsPer1k.sidecars.toFixed(1)} ms (ratio ${t.cpuRatio?.toFixed(2)}, target <= 0.5)`);
    }
    // The chain, normal scheduling (Node.js under SCHED_FIFO livelocks on two cores: bench/chain.ts).
    const chain: { setup: string; runs: { p50: number; p99: number; errors: number; proxyCpuMsPer1k: number }[] }[] = [];
    if (!values['no-chain']) {
      for (let i = HOPS; i >= 1; i--) {
        const last = i === HOPS;
        await startChainServer(lab, { netns, cgroup: plain }, `${chainPod(i)}:${CHAIN_PORT.plain}`, last ? undefined : `${chainPod(i + 1)}:${CHAIN_PORT.plain}`, `chain a ${i}`);
        await startChainServer(lab, { netns, cgroup: routed }, `${chainPod(i)}:${CHAIN_PORT.l4}`, last ? undefined : `${chainL4(i + 1)}:80`, `chain b ${i}`);
        await startChainServer(lab, { netns, cgroup: routed }, `${chainPod(i)}:${CHAIN_PORT.l7}`, last ? undefined : `${chainL7(i + 1)}:80`, `chain f ${i}`);
        await startChainServer(lab, { netns, cgroup: plain }, `${chainPod(i)}:${CHAIN_PORT.sidecar}`, last ? undefined : `${chainPod(i)}:15001`, `chain d ${i}`);
      }
      const chainSidecars: Proc[] = [];
      for (let i = 1; i <= HOPS; i++) {
        const frontends = [{ listen: `${chainPod(i)}:15006`, upstream: `${chainPod(i)}:${CHAIN_PORT.sidecar}` }];
        if (i < HOPS) frontends.push({ listen: `${chainPod(i)}:15001`, upstream: `${chainPod(i + 1)}:15006` });
        chainSidecars.push(await startHaproxy(lab, { netns, cgroup: plain }, 'http', frontends, `chain sidecar ${i}`));
      }
      chainSidecars.push(await startHaproxy(lab, { netns, cgroup: plain }, 'http', [{ listen: `${CLIENT_POD}:15021`, upstream: `${chainPod(1)}:15006` }], 'chain sidecar client'));
      const sum = (procs: Proc[]) => () => procs.map((p) => treeUsage(p.pid)).reduce((a, b) => ({ cpuNs: a.cpuNs + b.cpuNs, rssKiB: a.rssKiB + b.rssKiB }));
      const chainTargets: Record<string, Target> = {
        'no-mesh': { where: { netns, cgroup: plain, cpus: '0' }, addr: `${chainPod(1)}:${CHAIN_PORT.plain}`, usage: none },
        'meshc-l4': { where: { netns, cgroup: routed, cpus: '0' }, addr: `${chainL4(1)}:80`, usage: none },
        'sidecar-http': { where: { netns, cgroup: plain, cpus: '0' }, addr: `${CLIENT_POD}:15021`, usage: sum(chainSidecars) },
        'meshc-l7': { where: { netns, cgroup: routed, cpus: '0' }, addr: `${chainL7(1)}:80`, usage: () => treeUsage(supervisor.masterPid!) },
      };
      for (const s of CHAIN_SETUPS) {
        const r = await fixedRate(lab, chainTargets[s.id]!.where, tools, chainTargets[s.id]!.addr, { connections: CONNECTIONS, seconds: 0.5, warmup: 0, close: false, rate: 200 });
        if (r.errors > 0 || r.requests === 0) throw new Error(`chain ${s.label}: warm-up failed (${r.errors} errors of ${r.requests})`);
        chain.push({ setup: s.id, runs: [] });
      }
      for (let round = 0; round < chainRounds; round++) {
        // The order rotates each round, so no setup always runs right after another one's load.
        const order = CHAIN_SETUPS.map((_, i) => CHAIN_SETUPS[(i + round) % CHAIN_SETUPS.length]!);
        for (const s of order) {
          const t = chainTargets[s.id]!;
          const before = t.usage();
          const r = await fixedRate(lab, t.where, tools, t.addr, { connections: CONNECTIONS, seconds, warmup: 0.5, close: false, rate: 500 });
          const after = t.usage();
          const cpu = r.completed > 0 ? ((after.cpuNs - before.cpuNs) / 1e6 / r.completed) * 1000 : 0;
          chain.find((c) => c.setup === s.id)!.runs.push({ p50: r.latencyUs.p50, p99: r.latencyUs.p99, errors: r.errors, proxyCpuMsPer1k: cpu });
          log(`  chain round ${round + 1}/${chainRounds} ${s.label.padEnd(27)} p50 ${r.latencyUs.p50.toFixed(0).padStart(6)} µs  p99 ${r.latencyUs.p99.toFixed(0).padStart(7)} µs  proxy ${cpu.toFixed(1)} ms/1k  errors ${r.errors}`);
        }
      }
    }
    // Each round's figures over no mesh's in the same round, then the median: a burst of the
    // neighbours' load moves both sides of a round's ratio.
    const chainBase = chain.find((c) => c.setup === 'no-mesh');
    const chainMedians = chain.map((c) => ({
      setup: c.setup,
      median: {
        p50: median(c.runs.map((r) => r.p50)), p99: median(c.runs.map((r) => r.p99)), errors: c.runs.reduce((n, r) => n + r.errors, 0), proxyCpuMsPer1k: median(c.runs.map((r) => r.proxyCpuMsPer1k)),
        p50VsNoMesh: chainBase ? median(c.runs.map((r, i) => r.p50 / chainBase.runs[i]!.p50)) : null,
        p99VsNoMesh: chainBase ? median(c.runs.map((r, i) => r.p99 / chainBase.runs[i]!.p99)) : null,
      },
      runs: c.runs,
    }));
    for (const c of chainMedians) {
      log(`  chain ${c.setup.padEnd(13)} median p50 ${(c.median.p50 / 1000).toFixed(2)} ms (×${c.median.p50VsNoMesh?.toFixed(2)} of no mesh, per round), p99 ${(c.median.p99 / 1000).toFixed(2)} ms (×${c.median.p99VsNoMesh?.toFixed(2)}), proxy CPU ${c.median.proxyCpuMsPer1k.toFixed(1)} ms/1k`);
    }
    const result = {
      date: new Date().toISOString(),
      conditions: {
        cores: os.cpus().length, rounds, chainRounds, modes: MODES, secondsPerRun: seconds, connections: CONNECTIONS, rate: RATE, payloadBytes: PAYLOAD_BYTES,
        client: 'loadgen (fixed rate, open loop) and wrk -t1 (saturation), pinned to CPU 0; nginx pinned to CPU 1; proxies unpinned; fixed-rate runs under SCHED_FIFO (client, servers, proxies), saturation runs under normal scheduling',
        sidecars: 'two HAProxy processes (nbthread 1, HTTP mode, keep-alive, http-reuse always)',
        nodeProxy: 'HAProxy run by ProxySupervisor with the generated configuration (master-worker, nbthread 1), the client steered to it by connect() through the tables (a header rule and a catch-all)',
        versions: versions(),
        loadAverage: { before: loadBefore, after: os.loadavg() },
        reported: `median of ${rounds} round(s)`,
      },
      cells: cells.map((c) => ({ setup: c.setup, mode: c.mode, median: c.median })),
      targets: targetsMet,
      variants,
      chain: { hops: HOPS, rate: 500, scheduling: 'normal', order: 'rotated each round', setups: chainMedians },
    };
    const out = values.out ?? path.join(ROOT, 'bench/results/proxy-hop.json');
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    log(`  wrote ${out}`);
  } finally {
    const problems = await lab.close();
    for (const p of problems) log(`cleanup: ${p}`);
  }
}

await main();
