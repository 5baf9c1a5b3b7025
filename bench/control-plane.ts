// Control-plane benchmark: the Kubernetes source at cluster scale (10,000 Services, 50,000
// endpoints by default), measured two ways in one run:
//   1. In-process, against the API server stand-in (a test double) in a process of its own:
//      - initial sync: source start → full list of every resource (listMs) → model → compileTables
//        → applyTables into a sink (none: rows only counted, or policy.wasm's maps with --wasm);
//      - single-change latency: one EndpointSlice replaced over HTTP → rows applied, p50/p99, end
//        to end and as the agent's histogram sees it (informer event → map write);
//      - resident memory of that process after the sync and after the changes.
//   2. One real `meshc agent` per node (--nodes, default 3; kernel maps), against the stand-in and
//      against a real kube-apiserver with etcd and kube-controller-manager (test/cluster's
//      components; the objects created through its API): initial sync per node, one change p50/p99
//      per node (request → that node's pinned map), agent RSS, API server load (requests and watch
//      events during the sync and per change) and the servers' RSS; see runAgentsBench.
// Reports, does not assert. Run: npx tsx bench/control-plane.ts [--services N] [--endpoints N]
//   [--changes N] [--wasm] [--quick] [--tsx] [--nodes N] [--agents stand-in,kube-apiserver|none]
//   [--writers N] [--out FILE]
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeSource, type ChangeBatch } from '../src/kube/source.ts';
import { CompileCache, compileTables } from '../src/tables/compile.ts';
import { TableIds } from '../src/tables/ids.ts';
import { applyTables, emptyState, type ApplyStats } from '../src/sinks/apply.ts';
import type { TableSink, TableState } from '../src/sinks/sink.ts';
import { WasmSink } from '../src/sinks/wasm.ts';
import { loadPolicyWasm } from '../src/wasm/load.ts';
import { clusterIP, scaleNamespace, scaleService, scaleSlice, type ScaleOptions } from '../test/apiserver/scale.ts';
import * as L from '../src/tables/layouts.ts';
import { addressWords, decode, encode, netPort } from '../src/tables/codec.ts';

// In the bundled run (see the CLI below) this file lives elsewhere: the parent says where the
// repository is.
const ROOT = process.env['MESHC_BENCH_ROOT'] ?? join(dirname(fileURLToPath(import.meta.url)), '..');
const RUNTIME = process.env['MESHC_BENCH_RUNTIME'] ?? 'tsx';

export interface ControlPlaneOptions {
  services: number;
  endpoints: number;
  /** Single changes to time. */
  changes: number;
  /** Pause between changes, so each is a change of its own. */
  gapMs: number;
  writer: 'count' | 'wasm';
  quietMs?: number;
}

export interface Percentiles {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface ControlPlaneResult {
  conditions: Record<string, unknown>;
  initialSync: { totalMs: number; listMs: number; modelBuildMs: number; compileMs: number; applyMs: number; rowsWritten: number };
  singleChange: { endToEndMs: Percentiles; informerToWriteMs: Percentiles; compileMs: Percentiles; applyMs: Percentiles; rowsWrittenPerChange: Percentiles };
  memory: Record<string, number | boolean>;
  targets: { p99UnderMs: number; initialSyncUnderMs: number; rssUnderMiB: number };
}

/** Rows an apply wrote and removed. */
const rowsApplied = (stats: ApplyStats) => [...Object.values(stats.written), ...Object.values(stats.removed)].reduce((a, b) => a + b, 0);

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN);
  return { samples: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(sorted[sorted.length - 1] ?? NaN) };
}

const round = (n: number) => Math.round(n * 100) / 100;
const mib = (bytes: number) => round(bytes / (1 << 20));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Live memory: after a full collection when node runs with --expose-gc (the CLI re-runs itself so). */
function memory(): NodeJS.MemoryUsage {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage();
}

async function startStandin(options: ScaleOptions): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/apiserver/serve.ts'), '--services', String(options.services), '--endpoints', String(options.endpoints)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface(child.stdout!);
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`stand-in exited with ${code} before it was ready`)));
  });
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

export async function runControlPlaneBench(options: ControlPlaneOptions): Promise<ControlPlaneResult> {
  const scale: ScaleOptions = { services: options.services, endpoints: options.endpoints };
  const { child, url } = await startStandin(scale);
  const beforeStart = memory();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'standin', server: url, skipTLSVerify: true }],
    users: [{ name: 'standin' }],
    contexts: [{ name: 'standin', cluster: 'standin', user: 'standin' }],
    currentContext: 'standin',
  });
  const source = new KubeSource({ kubeConfig, quietMs: options.quietMs, log: () => {} });
  const sink: TableSink = options.writer === 'wasm' ? new WasmSink(await loadPolicyWasm()) : { write() {}, remove() {} };
  const ids = new TableIds();
  const cache = new CompileCache();
  let state: TableState = emptyState();

  /** What a batch did; the batch itself (and its model) is not kept, as the agent would not. */
  interface Applied {
    batch: Pick<ChangeBatch, 'initial' | 'changes' | 'services'>;
    compileMs: number;
    applyMs: number;
    rows: number;
    writtenAt: number;
    wallAt: number;
  }
  const applied: Applied[] = [];
  let notify: (() => void) | undefined;
  const startedAt = performance.now();
  let listedAt = 0;
  source.onStatus((status) => {
    if (status.synced && listedAt === 0) listedAt = performance.now();
  });
  source.onBatch((batch) => {
    const t0 = performance.now();
    const tables = compileTables(batch.model, { ids, cache, node: 'node-0' });
    const t1 = performance.now();
    const result = applyTables(sink, state, tables.rows);
    state = result.state;
    const t2 = performance.now();
    applied.push({ batch: { initial: batch.initial, changes: batch.changes, services: batch.services }, compileMs: t1 - t0, applyMs: t2 - t1, rows: rowsApplied(result.stats), writtenAt: source.now(), wallAt: t2 });
    notify?.();
  });
  const waitBatch = (predicate: (a: Applied) => boolean) =>
    new Promise<Applied>((resolve) => {
      const check = () => {
        const found = applied.find(predicate);
        if (found) {
          notify = undefined;
          resolve(found);
        } else notify = check;
      };
      check();
    });

  try {
    await source.start();
    await source.waitForSync(120_000);
    const initial = await waitBatch((a) => a.batch.initial);
    const buildStart = performance.now();
    source.model();
    const modelBuildMs = performance.now() - buildStart;
    const afterSync = memory();

    const endToEnd: number[] = [];
    const informerToWrite: number[] = [];
    const compile: number[] = [];
    const apply: number[] = [];
    const rows: number[] = [];
    for (let k = 1; k <= options.changes; k++) {
      const service = (k * 7919) % options.services;
      const body = scaleSlice(scale, service, k);
      const path = `/apis/discovery.k8s.io/v1/namespaces/${scaleNamespace(service % 100)}/endpointslices/${body.metadata.name}`;
      const name = body.metadata.name as string;
      const seenBefore = applied.length;
      const t0 = performance.now();
      const response = await fetch(url + path, { method: 'PUT', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      if (response.status !== 200) throw new Error(`PUT ${path}: ${response.status} ${await response.text()}`);
      const rv = ((await response.json()) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
      const done = await waitBatch((a) => applied.indexOf(a) >= seenBefore && a.batch.changes.some((c) => c.name === name && c.resourceVersion === rv));
      endToEnd.push(done.wallAt - t0);
      for (const change of done.batch.changes) informerToWrite.push(done.writtenAt - change.seenAt);
      compile.push(done.compileMs);
      apply.push(done.applyMs);
      rows.push(done.rows);
      if (!done.batch.services.has(`${scaleNamespace(service % 100)}/${scaleService(service)}`)) throw new Error(`batch for ${name} does not name its service`);
      await sleep(options.gapMs);
    }
    const afterChanges = memory();
    return {
      conditions: {
        services: options.services,
        endpoints: options.endpoints,
        endpointSlices: options.services,
        namespaces: 100,
        nodes: 50,
        changes: options.changes,
        writer: options.writer === 'wasm' ? 'policy.wasm maps (WasmSink)' : 'no sink: rows counted, written nowhere (no kernel)',
        quietMs: options.quietMs ?? 50,
        standin: 'test/apiserver/standin.ts (a test double) in a child process, plain HTTP on loopback',
        runtime: RUNTIME === 'bundle' ? 'esbuild bundle under plain node, as the agent image runs it' : 'tsx loader (as bin/meshc.js runs from a checkout)',
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        node: process.version,
      },
      initialSync: {
        totalMs: round(initial.wallAt - startedAt),
        listMs: round(listedAt - startedAt),
        modelBuildMs: round(modelBuildMs),
        compileMs: round(initial.compileMs),
        applyMs: round(initial.applyMs),
        rowsWritten: initial.rows,
      },
      singleChange: {
        endToEndMs: percentiles(endToEnd),
        informerToWriteMs: percentiles(informerToWrite),
        compileMs: percentiles(compile),
        applyMs: percentiles(apply),
        rowsWrittenPerChange: percentiles(rows),
      },
      memory: {
        gcBeforeReading: typeof (globalThis as { gc?: unknown }).gc === 'function',
        rssBeforeStartMiB: mib(beforeStart.rss),
        heapUsedBeforeStartMiB: mib(beforeStart.heapUsed),
        rssAfterSyncMiB: mib(afterSync.rss),
        heapUsedAfterSyncMiB: mib(afterSync.heapUsed),
        rssAfterChangesMiB: mib(afterChanges.rss),
        heapUsedAfterChangesMiB: mib(afterChanges.heapUsed),
      },
      targets: { p99UnderMs: 1000, initialSyncUnderMs: 5000, rssUnderMiB: 150 },
    };
  } finally {
    await source.stop();
    child.kill('SIGTERM');
  }
}

// ---- One meshc agent per node, against the stand-in and against a real kube-apiserver ----------
//
// The same procedure for both targets: the cluster is filled (the stand-in seeds itself; the real
// API server gets every Namespace, Node, Service and EndpointSlice created through the API), then
// one `meshc agent` per node starts at once (the image's bundle under plain node, --node, the
// cgroup and pins of its own, as the meshc-agent ServiceAccount under RBAC on the real server).
// Initial sync: the agent's start → its log line saying it wrote every Service. One change: an
// EndpointSlice replaced through the API (one endpoint fewer or back) → the Service's ready count
// in that node's pinned mc_services map, polled every millisecond, per node. RSS of every agent
// from /proc. API server load: requests per verb and resource and watch events sent per resource,
// during the agents' initial sync and per change (kube-apiserver's own metrics; the stand-in's
// counts of the same), and the servers' RSS.

export interface AgentsOptions {
  services: number;
  endpoints: number;
  changes: number;
  nodes: number;
  gapMs: number;
  /** How many API writes are in flight at once while the real cluster is filled. */
  writers: number;
  log: (line: string) => void;
}

interface LoadSnapshot {
  /** `VERB resource.group`: requests served (to every client of the server). */
  requests: Record<string, number>;
  /** `resource.group`: watch events sent to clients. */
  watchEvents: Record<string, number>;
  /**
   * `VERB resource.group`: requests made by the agents alone, a WATCH counted when it starts
   * (kube-apiserver's audit log of the meshc-agent ServiceAccount; the stand-in serves only them).
   */
  agentRequests?: Record<string, number>;
}

interface AgentTarget {
  name: 'stand-in' | 'kube-apiserver';
  kubeconfig: string;
  description: string;
  populateMs: number;
  clusterIP(service: number): string;
  replaceSlice(service: number, body: Record<string, any>): Promise<void>;
  load(): Promise<LoadSnapshot>;
  /** Server processes whose memory is reported. */
  processes(): Record<string, number | undefined>;
  extra?(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface AgentsResult {
  target: string;
  conditions: Record<string, unknown>;
  populateMs: number;
  perNode: Array<{ node: string; initialSyncMs: number; agentSyncLogMs: number; changeMs: Percentiles; rssAfterSyncMiB: number; rssAfterChangesMiB: number }>;
  apiServer: {
    rssMiB: Record<string, number>;
    initialSync: LoadSnapshot;
    perChange: { requests: Record<string, number>; watchEvents: Record<string, number>; agentRequests?: Record<string, number> };
    [key: string]: unknown;
  };
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return mib(Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024);
  } catch {
    return NaN;
  }
}

function delta(after: Record<string, number>, before: Record<string, number>, per = 1): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(after)) {
    const d = n - (before[key] ?? 0);
    if (d !== 0) out[key] = round(d / per);
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** A Prometheus text exposition's samples of `metric`, summed by the key `keyOf` makes of the labels. */
function sumBy(text: string, metric: string, keyOf: (labels: Record<string, string>) => string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const m of line.slice(metric.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    const key = keyOf(labels);
    if (key === undefined) continue;
    out[key] = (out[key] ?? 0) + Number(line.slice(close + 1).trim());
  }
  return out;
}

const resourceKey = (l: Record<string, string>) => (l['group'] ? `${l['resource']}.${l['group']}` : l['resource'] || '(no resource: /metrics, /readyz, discovery)');

const AGENT_USER = 'system:serviceaccount:meshc-system:meshc-agent';
const CHANGE_TIMEOUT_MS = 180_000;

/**
 * The agents' requests in a kube-apiserver audit log (JSON lines, RequestReceived omitted): a
 * WATCH when its response starts, every other request when it completes; `VERB resource.group`
 * as the server's metrics name them (a request without a resource, such as discovery, by its path).
 */
function auditedRequests(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    const event = JSON.parse(line) as { stage: string; verb: string; requestURI: string; user?: { username?: string }; objectRef?: { resource?: string; apiGroup?: string } };
    if (event.user?.username !== AGENT_USER) continue;
    const watch = event.verb === 'watch';
    if (watch ? event.stage !== 'ResponseStarted' : event.stage !== 'ResponseComplete') continue;
    const ref = event.objectRef;
    const what = ref?.resource ? (ref.apiGroup ? `${ref.resource}.${ref.apiGroup}` : ref.resource) : `(discovery) ${event.requestURI.replace(/\?.*$/, '')}`;
    const key = `${event.verb.toUpperCase()} ${what}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/** `count` calls of `work`, `width` at a time. */
async function inParallel(count: number, width: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, count) }, async () => {
    while (next < count) await work(next++);
  }));
}

/** The image's bundle of the CLI (deploy/Dockerfile's esbuild step) in a directory shaped like the image. */
async function bundleCli(dir: string): Promise<string[]> {
  const { symlinkSync } = await import('node:fs');
  symlinkSync(join(ROOT, 'build'), join(dir, 'build'));
  symlinkSync(join(ROOT, 'native'), join(dir, 'native'));
  const { build } = await import('esbuild');
  await build({
    entryPoints: [join(ROOT, 'deploy/meshc-entry.ts')],
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir: join(dir, 'dist/meshc'),
    entryNames: 'meshc',
    chunkNames: 'meshc-[hash]',
    outExtension: { '.js': '.mjs' },
    external: ['typescript', 'assemblyscript', 'esbuild', 'playwright-core'],
    banner: { js: "import { createRequire as __meshcRequire } from 'node:module'; const require = __meshcRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  return [process.execPath, join(dir, 'dist/meshc/meshc.mjs')];
}

async function standinTarget(o: AgentsOptions, dir: string): Promise<AgentTarget> {
  const kubeconfig = join(dir, 'standin.kubeconfig');
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/apiserver/serve.ts'), '--services', String(o.services), '--endpoints', String(o.endpoints), '--nodes', String(o.nodes), '--kubeconfig', kubeconfig], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface(child.stdout!);
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`stand-in exited with ${code}`));
      child.once('exit', onExit);
      lines.once('line', (line) => {
        child.off('exit', onExit);
        resolve(line);
      });
    });
  const { url } = JSON.parse(await nextLine()) as { url: string };
  const populateMs = performance.now() - t0;
  let queue = Promise.resolve('');
  return {
    name: 'stand-in',
    kubeconfig,
    description: 'test/apiserver/standin.ts (a test double) in a process of its own, plain HTTP on loopback, no authentication',
    populateMs,
    clusterIP: (i) => clusterIP(i),
    async replaceSlice(_service, body) {
      const path = `/apis/discovery.k8s.io/v1/namespaces/${body.metadata.namespace}/endpointslices/${body.metadata.name}`;
      const response = await fetch(url + path, { method: 'PUT', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      if (response.status !== 200) throw new Error(`stand-in: PUT ${path}: ${response.status} ${await response.text()}`);
    },
    load() {
      queue = queue.then(() => {
        const line = nextLine();
        child.stdin!.write('stats\n');
        return line;
      });
      return queue.then((line) => JSON.parse(line) as LoadSnapshot);
    },
    processes: () => ({ standin: child.pid }),
    async stop() {
      child.kill('SIGTERM');
    },
  };
}

async function apiServerTarget(o: AgentsOptions, dir: string): Promise<AgentTarget> {
  const { ControlPlane } = await import('../test/cluster/control-plane.ts');
  const { componentsDir } = await import('../test/cluster/components.ts');
  // The audit log holds the agents' requests alone (Metadata level for the meshc-agent
  // ServiceAccount, nothing for anyone else): the server's own metrics count every client's,
  // the controller manager's too, and count a WATCH only when it ends.
  const auditPolicy = join(dir, 'audit-policy.yaml');
  const auditLog = join(dir, 'audit.log');
  writeFileSync(auditPolicy, [
    'apiVersion: audit.k8s.io/v1',
    'kind: Policy',
    'omitStages: [RequestReceived]',
    'rules:',
    `  - level: Metadata`,
    `    users: ["${AGENT_USER}"]`,
    '  - level: None',
    '',
  ].join('\n'));
  const cp = new ControlPlane({
    dir,
    serviceCIDR: '10.96.0.0/16',
    apiServerFlags: [`--audit-policy-file=${auditPolicy}`, `--audit-log-path=${auditLog}`, '--audit-log-format=json', '--audit-log-mode=blocking'],
  });
  try {
    const bootStart = performance.now();
    await cp.start();
    const bootMs = performance.now() - bootStart;
    const t0 = performance.now();
    const scale: ScaleOptions = { services: o.services, endpoints: o.endpoints, nodes: o.nodes };
    for (let i = 0; i < o.nodes; i++) {
      await cp.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${i}`, labels: { 'kubernetes.io/hostname': `node-${i}`, 'topology.kubernetes.io/zone': `zone-${i % 3}` } } });
    }
    await inParallel(100, o.writers, (i) => cp.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: scaleNamespace(i) } }));
    const ips: string[] = new Array(o.services);
    let made = 0;
    const progress = (what: string) => {
      if (++made % 2000 === 0) o.log(`  kube-apiserver: ${made} of ${2 * o.services} Services and EndpointSlices created (${what}), ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    };
    // No selector: the EndpointSlices are the bench's (the real controller leaves such Services alone).
    await inParallel(o.services, o.writers, async (i) => {
      const created = await cp.admin.create(`/api/v1/namespaces/${scaleNamespace(i % 100)}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: scaleService(i), namespace: scaleNamespace(i % 100) },
        spec: { type: 'ClusterIP', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
      });
      ips[i] = created.spec.clusterIP;
      progress('Services');
    });
    const versions: string[] = new Array(o.services);
    const benchSlice = (i: number, body = scaleSlice(scale, i)) => {
      body.metadata.labels['endpointslice.kubernetes.io/managed-by'] = 'bench.meshc.io';
      return body;
    };
    await inParallel(o.services, o.writers, async (i) => {
      const created = await cp.admin.create(`/apis/discovery.k8s.io/v1/namespaces/${scaleNamespace(i % 100)}/endpointslices`, benchSlice(i));
      versions[i] = created.metadata.resourceVersion;
      progress('EndpointSlices');
    });
    const populateMs = performance.now() - t0;
    const kubeconfig = await cp.serviceAccountKubeconfig('meshc-system', 'meshc-agent');
    return {
      name: 'kube-apiserver',
      kubeconfig,
      description: `kube-apiserver, etcd and kube-controller-manager ${basename(componentsDir().dir ?? '')} built from Go modules (test/cluster), TLS on loopback; the agents as the meshc-agent ServiceAccount under RBAC (TokenRequest token); control plane started in ${Math.round(bootMs)} ms`,
      populateMs,
      clusterIP: (i) => ips[i]!,
      async replaceSlice(i, body) {
        const slice = benchSlice(i, body as any);
        slice.metadata.resourceVersion = versions[i];
        const replaced = await cp.admin.request('PUT', `/apis/discovery.k8s.io/v1/namespaces/${slice.metadata.namespace}/endpointslices/${slice.metadata.name}`, slice);
        versions[i] = replaced.metadata.resourceVersion;
      },
      async load() {
        const text: string = await cp.metrics();
        return {
          requests: sumBy(text, 'apiserver_request_total', (l) => `${l['verb']} ${resourceKey(l)}`),
          watchEvents: sumBy(text, 'apiserver_watch_events_total', resourceKey),
          agentRequests: auditedRequests(auditLog),
        };
      },
      processes: () => ({ 'kube-apiserver': cp.apiserver.pid, etcd: cp.etcd.pid, 'kube-controller-manager': cp.controllerManager.pid }),
      async extra() {
        const text: string = await cp.metrics();
        // Watches open per resource when the changes end (meshc's agents and the controller manager's).
        return { openWatches: sumBy(text, 'apiserver_longrunning_requests', (l) => (l['verb'] === 'WATCH' ? resourceKey(l) : undefined)) };
      },
      stop: () => cp.stop(),
    };
  } catch (error) {
    await cp.stop().catch(() => {});
    throw error;
  }
}

/** The Service's ready count in one node's pinned mc_services (-1: not there). */
function readyIn(map: import('../src/loader/index.ts').BpfMap, key: Uint8Array): number {
  const value = map.lookup(Buffer.from(key));
  return value ? Number(decode(L.ServiceValue, value).ready) : -1;
}

function serviceKey(ip: string, port: number): Uint8Array {
  const words = addressWords(ip);
  return encode(L.ServiceKey, { ...words, port: netPort(port), proto: L.IPPROTO.TCP, family: words.family });
}

export async function runAgentsBench(targetName: 'stand-in' | 'kube-apiserver', o: AgentsOptions): Promise<AgentsResult> {
  const { NodeAgent } = await import('../test/cluster/agent.ts');
  const { cgroup2Mount } = await import('../test/cluster/components.ts');
  const { removeCgroup } = await import('../test/cluster/kubelet.ts');
  const { openPinnedMap } = await import('../src/loader/index.ts');
  const mount = cgroup2Mount();
  if (!mount) throw new Error('no cgroup v2 mount in /proc/self/mounts');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const dir = mkdtempSync(join(os.tmpdir(), 'meshc-cp-bench-'));
  const cgroupRoot = join(mount, `meshc-cp-bench-${process.pid}-${targetName}`);
  mkdirSync(cgroupRoot);
  const agents: InstanceType<typeof NodeAgent>[] = [];
  const maps: import('../src/loader/index.ts').BpfMap[] = [];
  let target: AgentTarget | undefined;
  try {
    const cli = await bundleCli(dir);
    o.log(`${targetName}: filling it with ${o.services} Services and ${o.endpoints} endpoints`);
    target = targetName === 'stand-in' ? await standinTarget(o, mkdtempSync(join(dir, 'standin-'))) : await apiServerTarget(o, mkdtempSync(join(dir, 'cluster-')));
    o.log(`${targetName}: filled in ${(target.populateMs / 1000).toFixed(1)} s; starting ${o.nodes} agents`);
    const scale: ScaleOptions = { services: o.services, endpoints: o.endpoints, nodes: o.nodes };
    const perService = (i: number) => scaleSlice(scale, i).endpoints.length;
    const before = await target.load();
    for (let n = 0; n < o.nodes; n++) {
      const cgroup = join(cgroupRoot, `node-${n}`);
      mkdirSync(cgroup);
      agents.push(new NodeAgent(`node-${n}`, cgroup, target.kubeconfig, cli));
    }
    // As a DaemonSet rolls out: every node's agent at once.
    const synced = /^agent: synced (\d+) service frontends.*\((\d+(?:\.\d+)?) ms\)$/;
    await Promise.all(agents.map((a) => a.start({ timeoutMs: 600_000 })));
    const initial = await Promise.all(
      agents.map(async (a) => {
        for (;;) {
          const at = a.log.findIndex((l) => Number(synced.exec(l)?.[1] ?? 0) >= o.services);
          if (at >= 0) return { ms: a.logTimes[at]! - a.startedAt, agentMs: Number(synced.exec(a.log[at]!)![2]) };
          await a.waitForLog(synced, a.log.length, 600_000);
        }
      }),
    );
    for (const a of agents) maps.push(openPinnedMap(join(a.pin, 'maps', 'mc_services')));
    const last = o.services - 1;
    for (const [n, map] of maps.entries()) {
      const ready = readyIn(map, serviceKey(target.clusterIP(last), 80));
      if (ready !== perService(last)) throw new Error(`node-${n}: ${scaleService(last)} has ${ready} ready endpoints in mc_services after the initial sync, not ${perService(last)}`);
    }
    const afterSync = await target.load();
    const rssAfterSync = agents.map((a) => rssMiB(a.pid));
    o.log(`${targetName}: every agent synced (${initial.map((s) => `${(s.ms / 1000).toFixed(1)} s`).join(', ')}); ${o.changes} changes`);

    const samples: number[][] = agents.map(() => []);
    const count = new Map<number, number>();
    for (let k = 1; k <= o.changes; k++) {
      const service = (k * 7919) % o.services;
      const full = scaleSlice(scale, service);
      const now = count.get(service) ?? full.endpoints.length;
      const next = now === full.endpoints.length ? now - 1 : full.endpoints.length;
      count.set(service, next);
      full.endpoints = full.endpoints.slice(0, next);
      const key = serviceKey(target.clusterIP(service), 80);
      const t0 = performance.now();
      await target.replaceSlice(service, full);
      const pending = new Set(maps.keys());
      while (pending.size > 0) {
        for (const n of pending) {
          if (readyIn(maps[n]!, key) === next) {
            samples[n]!.push(performance.now() - t0);
            pending.delete(n);
          }
        }
        // A change that never arrives fails the run; on the shared 2-core machine the slowest took 52 s once and over 60 s another time.
        if (performance.now() - t0 > CHANGE_TIMEOUT_MS) throw new Error(`change ${k} (${scaleService(service)} to ${next} endpoints): not in the maps of ${[...pending].map((n) => `node-${n}`).join(', ')} after ${CHANGE_TIMEOUT_MS / 1000} s`);
        await sleep(1);
      }
      await sleep(o.gapMs);
    }
    const afterChanges = await target.load();
    const extra = (await target.extra?.()) ?? {};
    return {
      target: targetName,
      conditions: {
        services: o.services,
        endpoints: o.endpoints,
        endpointSlices: o.services,
        namespaces: 100,
        nodes: o.nodes,
        changes: o.changes,
        server: target.description,
        agents: "meshc agent per node: the image's esbuild bundle under plain node, --node, a cgroup and pins of its own, maps in the kernel",
        change: 'one EndpointSlice replaced through the API (one endpoint fewer, or back): from the request to the ready count in that node\'s pinned mc_services, polled every 1 ms',
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.cpus().length,
        node: process.version,
      },
      populateMs: round(target.populateMs),
      perNode: agents.map((a, n) => ({
        node: a.node,
        initialSyncMs: round(initial[n]!.ms),
        agentSyncLogMs: initial[n]!.agentMs,
        changeMs: percentiles(samples[n]!),
        rssAfterSyncMiB: rssAfterSync[n]!,
        rssAfterChangesMiB: rssMiB(a.pid),
      })),
      apiServer: {
        rssMiB: Object.fromEntries(Object.entries(target.processes()).map(([name, pid]) => [name, rssMiB(pid)])),
        initialSync: {
          requests: delta(afterSync.requests, before.requests),
          watchEvents: delta(afterSync.watchEvents, before.watchEvents),
          ...(afterSync.agentRequests ? { agentRequests: delta(afterSync.agentRequests, before.agentRequests ?? {}) } : {}),
        },
        perChange: {
          requests: delta(afterChanges.requests, afterSync.requests, o.changes),
          watchEvents: delta(afterChanges.watchEvents, afterSync.watchEvents, o.changes),
          ...(afterChanges.agentRequests ? { agentRequests: delta(afterChanges.agentRequests, afterSync.agentRequests ?? {}, o.changes) } : {}),
        },
        ...extra,
      },
    };
  } finally {
    for (const m of maps) m.close();
    await Promise.allSettled(agents.map((a) => a.dispose()));
    await target?.stop().catch(() => {});
    removeCgroup(cgroupRoot);
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): ControlPlaneOptions & { out: string } {
  const options: ControlPlaneOptions & { out: string } = { services: 10_000, endpoints: 50_000, changes: 100, gapMs: 100, writer: 'count', out: join(ROOT, 'bench/results/control-plane.json') };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v)) throw new Error(`${flag} needs a whole number`);
      return Number(v);
    };
    if (flag === '--services') options.services = value();
    else if (flag === '--endpoints') options.endpoints = value();
    else if (flag === '--changes') options.changes = value();
    else if (flag === '--quiet-ms') options.quietMs = value();
    else if (flag === '--wasm') options.writer = 'wasm';
    else if (flag === '--quick') Object.assign(options, { services: 1000, endpoints: 5000, changes: 20 });
    else if (flag === '--out') options.out = argv[++i] ?? '';
    else throw new Error(`unknown option ${flag} (known: --services --endpoints --changes --quiet-ms --wasm --quick --tsx --out)`);
  }
  return options;
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];

if (isMain && process.env['MESHC_BENCH_CHILD'] !== '1') {
  // The source in-process against the stand-in is measured in a child with --expose-gc (memory
  // read after a full collection), running by default an esbuild bundle under plain node, as the
  // agent image does (tsx's loader alone costs about 140 MiB of resident memory); --tsx runs the
  // sources through tsx instead. Then, in this process, one meshc agent per node against the
  // stand-in and against a real kube-apiserver (--agents picks the targets, --agents none skips).
  const argv = process.argv.slice(2);
  const own = new Set(['--agents', '--nodes', '--out', '--writers']);
  const rest: string[] = [];
  const mine: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (own.has(argv[i]!)) mine[argv[i]!] = argv[++i] ?? '';
    else if (argv[i] !== '--tsx') rest.push(argv[i]!);
  }
  const tsx = argv.includes('--tsx');
  const options = parseArgs(rest);
  const out = mine['--out'] || join(ROOT, 'bench/results/control-plane.json');
  const targets = (mine['--agents'] ?? 'stand-in,kube-apiserver').split(',').filter((t) => t && t !== 'none');
  for (const t of targets) if (t !== 'stand-in' && t !== 'kube-apiserver') throw new Error(`--agents: unknown target ${t} (known: stand-in, kube-apiserver, none)`);
  const nodes = Number(mine['--nodes'] ?? 3);
  const writers = Number(mine['--writers'] ?? 16);
  const { mkdtempSync, symlinkSync, rmSync } = await import('node:fs');
  const dir = mkdtempSync(join(os.tmpdir(), 'meshc-bench-'));
  const childOut = join(dir, 'in-process.json');
  const env = { ...process.env, MESHC_BENCH_CHILD: '1', MESHC_BENCH_ROOT: ROOT, MESHC_BENCH_RUNTIME: tsx ? 'tsx' : 'bundle' };
  let args: string[];
  if (tsx) {
    args = ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), ...rest, '--out', childOut];
  } else {
    // Two levels deep beside build/, as in the image, so ../../build resolves.
    symlinkSync(join(ROOT, 'build'), join(dir, 'build'));
    const { build } = await import('esbuild');
    await build({
      entryPoints: [fileURLToPath(import.meta.url)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: join(dir, 'dist/bench/control-plane.mjs'),
      external: ['esbuild', 'typescript', 'assemblyscript', 'playwright-core'],
      banner: { js: "import { createRequire as __meshcRequire } from 'node:module'; const require = __meshcRequire(import.meta.url);" },
      logLevel: 'warning',
    });
    args = ['--expose-gc', join(dir, 'dist/bench/control-plane.mjs'), ...rest, '--out', childOut];
  }
  const code = await new Promise<number>((resolve) => spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env }).on('exit', (c) => resolve(c ?? 1)));
  if (code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  }
  const result: ControlPlaneResult & { agents?: Record<string, AgentsResult | { skipped: string }> } = JSON.parse(readFileSync(childOut, 'utf8'));
  rmSync(dir, { recursive: true, force: true });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`in-process source against the stand-in: initial sync ${result.initialSync.totalMs} ms, one change p50 ${result.singleChange.endToEndMs.p50} ms p99 ${result.singleChange.endToEndMs.p99} ms`);
  if (targets.length > 0) result.agents = {};
  for (const target of targets) {
    if (target === 'kube-apiserver') {
      const { clusterSkipReason } = await import('../test/cluster/components.ts');
      const why = clusterSkipReason();
      if (why) {
        log(`kube-apiserver: skipped: ${why}`);
        result.agents![target] = { skipped: why };
        continue;
      }
    }
    const agents = await runAgentsBench(target as 'stand-in' | 'kube-apiserver', { services: options.services, endpoints: options.endpoints, changes: options.changes, nodes, gapMs: options.gapMs, writers, log });
    for (const n of agents.perNode) log(`${target}: ${n.node}: initial sync ${n.initialSyncMs} ms, one change p50 ${n.changeMs.p50} ms p99 ${n.changeMs.p99} ms, agent RSS ${n.rssAfterSyncMiB} -> ${n.rssAfterChangesMiB} MiB`);
    const perChange = agents.apiServer.perChange;
    log(`${target}: per change: requests ${JSON.stringify(perChange.requests)}, the agents' own ${JSON.stringify(perChange.agentRequests ?? perChange.requests)}, watch events ${JSON.stringify(perChange.watchEvents)}`);
    result.agents![target] = agents;
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  process.exit(0);
} else if (isMain) {
  const options = parseArgs(process.argv.slice(2));
  runControlPlaneBench(options)
    .then((result) => {
      mkdirSync(dirname(options.out), { recursive: true });
      writeFileSync(options.out, JSON.stringify(result, null, 2) + '\n');
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      process.exit(0);
    })
    .catch((error) => {
      process.stderr.write(`bench/control-plane: ${(error as Error).stack ?? error}\n`);
      process.exit(1);
    });
}
