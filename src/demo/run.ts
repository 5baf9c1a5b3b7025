// `meshc demo`: the seed article's product-api canary, live on this machine. The seed's route is
// simulated first; then the real agent, on a cgroup and network namespace of the demo's own, runs
// it live: the header rule through the agent's node proxy (HAProxy in the demo's namespace, the
// ClusterIP steered to it by connect()), plain requests to v1 and X-Canary-User: true to v2, then
// a weight change on the catch-all rule; then the weight-split variant in the kernel alone, with
// its weights changed and both versions scaled. Everything it made is removed at the end, on
// failure and on SIGINT/SIGTERM too.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Agent } from '../agent/agent.ts';
import { NodeProxy } from '../agent/proxy.ts';
import { ManifestSource } from '../agent/manifest-source.ts';
import { loadManifests } from '../model/load-files.ts';
import { loadPolicyWasm } from '../wasm/load.ts';
import { simulate, type SimulateResult } from '../sim/simulate.ts';
import { decodeServices } from '../inspect/decode.ts';
import { readPinned } from '../inspect/read.ts';
import { CLUSTER_IPS, INITIAL_STATE, PODS, SERVICE_PORT, TARGET_PORT, demoManifests, runningPods, type DemoState, type Version } from './manifests.ts';
import { Sandbox } from './sandbox.ts';
import { formatTable, shareBar } from '../text/table.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SEED_FIXTURE = join(ROOT, 'fixtures', 'product-api');
const PODS_SCRIPT = fileURLToPath(new URL('./pods.mjs', import.meta.url));
const CLIENT_SCRIPT = fileURLToPath(new URL('./client.mjs', import.meta.url));
const BAR_WIDTH = 40;
/** The demo's node address, in its namespace: where the node proxy listens. */
const NODE_ADDRESS = '10.244.0.1';

export interface DemoOptions {
  requests: number;
  /** Directory of meshc.bpf.o (compiled first when missing). */
  objectDir: string;
  /** Progress lines. */
  log: (line: string) => void;
  /** Requests in flight at once (default 4). */
  parallel?: number;
}

export interface SimulatorView {
  request: string;
  route: SimulateResult['route'];
  backends: { service: string; pod: string | null; share: number }[];
}

export interface PodCount {
  pod: string;
  version: Version | 'unknown';
  count: number;
  /** Share the route and replicas promise, in [0, 1]. */
  expected: number;
}

export interface PhaseResult {
  title: string;
  weights: DemoState['weights'];
  replicas: DemoState['replicas'];
  requests: number;
  failed: number;
  errors: Record<string, number>;
  /** getpeername() results the client saw, by address:port. */
  peers: Record<string, number>;
  pods: PodCount[];
  versions: Record<Version, { count: number; expected: number }>;
}

/** One measurement of the live header canary: requests with or without X-Canary-User: true. */
export interface CanaryResult {
  title: string;
  /** The catch-all rule's weights (the header rule sends everything to v2). */
  weights: DemoState['weights'];
  canaryHeader: boolean;
  requests: number;
  failed: number;
  errors: Record<string, number>;
  peers: Record<string, number>;
  versions: Record<Version, number>;
  /** Share of v2 the route promises for these requests, in [0, 1]. */
  expectedV2: number;
}

export interface DemoSummary {
  sandbox: { netns: string; cgroup: string; pin: string; tmp: string };
  clusterIP: string;
  simulator: SimulatorView[];
  /** The seed's header canary, live through the agent's node proxy. */
  canary: CanaryResult[];
  /** Where the agent said product-api was served during the canary (its log line). */
  canaryServing?: string;
  phases: PhaseResult[];
  /** What could not be removed (empty when everything is gone). */
  leftovers: string[];
  error?: string;
}

/** Expected share of every running pod: its version's weight share, split evenly over its pods. */
export function expectedShares(state: DemoState): Map<string, number> {
  const total = state.weights.v1 + state.weights.v2;
  const pods = runningPods(state);
  const shares = new Map<string, number>();
  for (const pod of pods) {
    const peers = pods.filter((p) => p.version === pod.version).length;
    shares.set(pod.name, total === 0 ? 0 : state.weights[pod.version] / total / peers);
  }
  return shares;
}

async function ensureObject(dir: string, log: (line: string) => void): Promise<void> {
  if (existsSync(join(dir, 'meshc.bpf.o'))) return;
  log(`compiling the built-in policy into ${dir} (meshc.bpf.o is missing)`);
  const { compilePolicy } = await import('../build/compile.ts');
  await compilePolicy({ outDir: dir, progress: () => {} });
}

/** The seed manifests, simulated: a plain request and a canary request. */
async function simulatorViews(requests: number): Promise<SimulatorView[]> {
  const model = await loadManifests([SEED_FIXTURE]);
  const instance = await loadPolicyWasm();
  const views: SimulatorView[] = [];
  for (const [label, headers] of [['GET /', {}], ['GET / with X-Canary-User: true', { 'X-Canary-User': 'true' }]] as const) {
    const result = simulate(model, instance, {
      to: { name: 'product-api', port: SERVICE_PORT },
      request: { method: 'GET', path: '/', headers },
      connections: requests,
      seed: 1,
    });
    views.push({
      request: label,
      route: result.route,
      backends: result.backends.map((b) => ({ service: b.service, pod: b.pod, share: b.count / result.connections })),
    });
  }
  return views;
}

/** Line-oriented control of the pods process: send a command, wait for its acknowledgement. */
class PodsProcess {
  private readonly waiting = new Map<string, (line: string) => void>();

  constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [, name] = line.split(' ');
      const done = this.waiting.get(name ?? '');
      if (done) {
        this.waiting.delete(name!);
        done(line);
      }
    });
  }

  private command(text: string, name: string, ok: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pods: no answer to "${text}" in 10 s`)), 10_000);
      this.waiting.set(name, (line) => {
        clearTimeout(timer);
        if (line.startsWith(ok)) resolve();
        else reject(new Error(`pods: ${text}: ${line}`));
      });
      this.child.stdin!.write(`${text}\n`);
    });
  }

  start(name: string, ip: string): Promise<void> {
    return this.command(`start ${name} ${ip} ${TARGET_PORT}`, name, 'started');
  }

  stop(name: string): Promise<void> {
    return this.command(`stop ${name}`, name, 'stopped');
  }
}

function collect(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export function formatPhase(phase: PhaseResult): string[] {
  const lines: string[] = [];
  const peers = Object.entries(phase.peers).map(([peer, n]) => `${peer} ×${n}`).join(', ');
  lines.push(`${phase.requests} requests, ${phase.failed} failed${phase.failed ? ` (${Object.entries(phase.errors).map(([e, n]) => `${e} ×${n}`).join(', ')})` : ''}; the client's getpeername(): ${peers || '-'}`);
  const rows = phase.pods.map((p) => [
    p.pod, p.version, String(p.count), `${((100 * p.count) / phase.requests).toFixed(1)}%`, `${(100 * p.expected).toFixed(1)}%`,
    shareBar(p.count, phase.requests, BAR_WIDTH),
  ]);
  lines.push(...formatTable([['POD', 'VERSION', 'COUNT', 'SHARE', 'EXPECTED'], ...rows], { right: [2, 3, 4] }));
  const versions = (['v1', 'v2'] as const).map((v) => `${v} ${((100 * phase.versions[v].count) / Math.max(1, phase.requests)).toFixed(1)}% (weight ${(100 * phase.versions[v].expected).toFixed(0)}%)`);
  lines.push(`by version: ${versions.join(', ')}`);
  return lines;
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { log, requests } = options;
  const sandbox = new Sandbox();
  const summary: DemoSummary = {
    sandbox: { netns: sandbox.netns, cgroup: sandbox.cgroup, pin: sandbox.pin, tmp: sandbox.tmp },
    clusterIP: CLUSTER_IPS['product-api'],
    simulator: [],
    canary: [],
    phases: [],
    leftovers: [],
  };
  let agent: Agent | undefined;
  let proxy: NodeProxy | undefined;
  // Ctrl-C or SIGTERM: remove what the demo made before going (an exit on the way: Sandbox does).
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: cleaning up`);
    agent?.close();
    void proxy?.stop();
    void sandbox.cleanup(log).then((left) => {
      for (const l of left) log(`cleanup: ${l}`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log('1. The seed article\'s route, simulated:');
    summary.simulator = await simulatorViews(1000);
    for (const view of summary.simulator) {
      const rule = view.route ? `HTTPRoute ${view.route.namespace}/${view.route.name} rule ${view.route.rule}` : 'no route';
      const byService = new Map<string, number>();
      for (const b of view.backends) byService.set(b.service, (byService.get(b.service) ?? 0) + b.share);
      log(`   ${view.request.padEnd(32)} -> ${rule}: ${[...byService].map(([s, share]) => `${s} ${(100 * share).toFixed(0)}%`).join(', ')}`);
    }

    log('2. Live, the seed\'s route: the header rule needs the HTTP request, so the agent serves product-api with its node proxy:');
    await ensureObject(options.objectDir, log);
    sandbox.create([...Object.values(CLUSTER_IPS), ...PODS.map((p) => p.ip), NODE_ADDRESS]);
    log(`   network namespace ${sandbox.netns}, cgroup ${sandbox.cgroup}, pins ${sandbox.pin}`);
    const pods = new PodsProcess(sandbox.spawnInNetns(process.execPath, [PODS_SCRIPT]));
    const manifestsDir = join(sandbox.tmp, 'manifests');
    mkdirSync(manifestsDir);
    const writeState = (state: DemoState) => {
      const files = demoManifests(state);
      for (const file of readdirSync(manifestsDir)) if (!files.has(file)) rmSync(join(manifestsDir, file));
      for (const [file, text] of files) writeFileSync(join(manifestsDir, file), text);
    };
    let state: DemoState = { ...structuredClone(INITIAL_STATE), weights: { v1: 100, v2: 0 }, headerRule: true };
    for (const pod of runningPods(state)) await pods.start(pod.name, pod.ip);
    log(`   pods up: ${runningPods(state).map((p) => `${p.name} (${p.ip})`).join(', ')}`);
    writeState(state);
    // HAProxy runs in the demo's namespace, listening on its node address (the pods' "node").
    const agentLog: string[] = [];
    proxy = new NodeProxy({ nodeIp: NODE_ADDRESS, log: (line) => agentLog.push(line), prefix: ['nsenter', `--net=/run/netns/${sandbox.netns}`] });
    agent = new Agent({ source: new ManifestSource([manifestsDir]), cgroup: sandbox.cgroup, pin: sandbox.pin, node: hostname(), objectDir: options.objectDir, log: (line) => agentLog.push(line), proxy });
    const first = await agent.start();
    for (const d of first.diagnostics) log(`   manifest problem: ${d.message}`);
    log(`   agent: hooks attached to ${sandbox.cgroup}, ${first.tables.frontends.length} service frontends and ${first.tables.backends.size} backends in the maps`);
    summary.canaryServing = agentLog.find((l) => /Service default\/product-api port 80: /.test(l));
    log(`   ${summary.canaryServing ?? 'agent: (no line about product-api)'}`);
    if (proxy.notServing) throw new Error(`the node proxy does not serve: ${proxy.notServing}`);

    const canary = async (title: string, header: boolean) => {
      const client = sandbox.spawnClient(process.execPath, [CLIENT_SCRIPT, `http://${CLUSTER_IPS['product-api']}:${SERVICE_PORT}/`, String(requests), String(options.parallel ?? 4), ...(header ? ['X-Canary-User: true'] : [])]);
      const out = await collect(client);
      if (out.code !== 0) throw new Error(`client exited with ${out.code}: ${out.stderr.trim()}`);
      const result = JSON.parse(out.stdout) as { pods: Record<string, number>; peers: Record<string, number>; failed: number; errors: Record<string, number> };
      const versions = { v1: 0, v2: 0 };
      for (const [pod, n] of Object.entries(result.pods)) {
        const version = PODS.find((p) => p.name === pod)?.version;
        if (version) versions[version] += n;
      }
      const total = state.weights.v1 + state.weights.v2;
      const entry: CanaryResult = {
        title, weights: { ...state.weights }, canaryHeader: header, requests, failed: result.failed, errors: result.errors,
        peers: result.peers, versions, expectedV2: header ? 1 : state.weights.v2 / total,
      };
      summary.canary.push(entry);
      const peers = Object.entries(result.peers).map(([peer, n]) => `${peer} ×${n}`).join(', ');
      log(`      ${title.padEnd(30)} v1 ${String(versions.v1).padStart(5)}  v2 ${String(versions.v2).padStart(5)}  ${shareBar(versions.v2, requests, BAR_WIDTH)}  (${result.failed} failed; getpeername(): ${peers || '-'})`);
    };
    log(`   a) header rule X-Canary-User: true -> v2; the rest -> v1 (${state.weights.v1} / ${state.weights.v2}):`);
    await canary('GET /', false);
    await canary('GET / X-Canary-User: true', true);
    state = { ...state, weights: { v1: 90, v2: 10 } };
    writeState(state);
    const mark = agentLog.length;
    await agent.sync();
    const applied = agentLog.slice(mark).find((l) => /node proxy: /.test(l));
    log(`   b) the catch-all rule's weights changed to v1 90 / v2 10 (${applied ? applied.replace(/^agent: node proxy: /, 'node proxy: ') : 'node proxy: no change logged'}):`);
    await canary('GET /', false);
    await canary('GET / X-Canary-User: true', true);

    log('3. Live, the weight-split route alone (backendRefs weights, decided per connection in the kernel; the node proxy stops):');
    state = structuredClone(INITIAL_STATE);
    writeState(state);
    await agent.sync();

    const measure = async (title: string) => {
      log(`   ${title}`);
      log(`      ${mapsLine(sandbox.pin)}`);
      const client = sandbox.spawnClient(process.execPath, [CLIENT_SCRIPT, `http://${CLUSTER_IPS['product-api']}:${SERVICE_PORT}/`, String(requests), String(options.parallel ?? 4)]);
      const out = await collect(client);
      if (out.code !== 0) throw new Error(`client exited with ${out.code}: ${out.stderr.trim()}`);
      const result = JSON.parse(out.stdout) as { pods: Record<string, number>; peers: Record<string, number>; failed: number; errors: Record<string, number> };
      const expected = expectedShares(state);
      const names = new Set([...expected.keys(), ...Object.keys(result.pods)]);
      const podCounts: PodCount[] = [...names].sort().map((pod) => ({
        pod,
        version: PODS.find((p) => p.name === pod)?.version ?? 'unknown',
        count: result.pods[pod] ?? 0,
        expected: expected.get(pod) ?? 0,
      }));
      const total = state.weights.v1 + state.weights.v2;
      const versions = Object.fromEntries((['v1', 'v2'] as const).map((v) => [v, {
        count: podCounts.filter((p) => p.version === v).reduce((sum, p) => sum + p.count, 0),
        expected: total === 0 ? 0 : state.weights[v] / total,
      }])) as PhaseResult['versions'];
      const phase: PhaseResult = {
        title, weights: { ...state.weights }, replicas: { ...state.replicas }, requests,
        failed: result.failed, errors: result.errors, peers: result.peers, pods: podCounts, versions,
      };
      summary.phases.push(phase);
      for (const line of formatPhase(phase)) log(`      ${line}`);
    };

    await measure(`a) weights v1 ${state.weights.v1} / v2 ${state.weights.v2}, v1 ${state.replicas.v1} pods, v2 ${state.replicas.v2} pod (the seed's 90/10):`);

    state = { ...state, weights: { v1: 50, v2: 50 } };
    writeState(state);
    await agent.sync();
    await measure('b) the HTTPRoute\'s weights changed to 50 / 50 (one map write switches the service):');

    state = { ...state, replicas: { ...state.replicas, v2: 2 } };
    const added = runningPods(state).filter((p) => p.version === 'v2').at(-1)!;
    await pods.start(added.name, added.ip);
    writeState(state);
    await agent.sync();
    await measure(`c) product-api-v2 scaled 1 -> 2 (${added.name} up, then in the EndpointSlice):`);

    const before = runningPods(state);
    state = { ...state, replicas: { ...state.replicas, v1: 1 } };
    const removed = before.filter((p) => !runningPods(state).includes(p));
    writeState(state);
    await agent.sync();
    for (const pod of removed) await pods.stop(pod.name);
    await measure(`d) product-api-v1 scaled 3 -> 1 (out of the EndpointSlice first, then stopped):`);
  } catch (error) {
    summary.error = (error as Error).message;
    log(`demo failed: ${summary.error}`);
  } finally {
    agent?.close();
    await proxy?.stop();
    log('4. Cleaning up: node proxy stopped, hooks detached, pins removed, namespace, cgroup and temp files deleted');
    summary.leftovers = await sandbox.cleanup();
    for (const left of summary.leftovers) log(`   cleanup: ${left}`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return summary;
}

/** What the maps say product-api's route does now, read back from the pins (as meshc inspect). */
function mapsLine(pin: string): string {
  const service = decodeServices(readPinned(pin)).services.find((s) => s.name === `default/product-api:${SERVICE_PORT}/TCP`);
  if (!service) return 'maps: product-api is not in the maps';
  const groups = service.groups.map((g) => `${g.percent.toFixed(0)}% -> ${g.targets.join(', ').replace(/:\d+\/TCP$/, '')} (${g.backends.length} ${g.backends.length === 1 ? 'backend' : 'backends'})`);
  return `maps (meshc inspect --pin ${pin}): product-api ${groups.join(', ')}`;
}
