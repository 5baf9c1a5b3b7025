// Control-plane benchmark: the Kubernetes source at cluster scale, against the API server
// stand-in (a test double) running in its own process. Measures, in this process (the agent's):
//   - initial sync: source start → full list of every resource (listMs) → model → compileTables
//     → applyTables into a sink (none: rows only counted, or policy.wasm's maps with --wasm) (totalMs);
//   - single-change programming latency: one EndpointSlice replaced over HTTP → rows applied,
//     p50/p99, both end to end (from the PUT) and as the agent's histogram sees it (informer
//     event → map write);
//   - resident memory of this process after the sync and after the changes.
// Reports, does not assert. Run: npx tsx bench/control-plane.ts [--services N] [--endpoints N]
//   [--changes N] [--wasm] [--quick] [--tsx] [--out FILE]
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
import { scaleNamespace, scaleService, scaleSlice, type ScaleOptions } from '../test/apiserver/scale.ts';

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
  // Measure in a child with --expose-gc (memory read after a full collection), running by default
  // an esbuild bundle under plain node, as the agent image does (tsx's loader alone costs about
  // 140 MiB of resident memory); --tsx runs the sources through tsx instead.
  const argv = process.argv.slice(2);
  const tsx = argv.includes('--tsx');
  const rest = argv.filter((a) => a !== '--tsx');
  const env = { ...process.env, MESHC_BENCH_CHILD: '1', MESHC_BENCH_ROOT: ROOT, MESHC_BENCH_RUNTIME: tsx ? 'tsx' : 'bundle' };
  let args: string[];
  let cleanup = () => {};
  if (tsx) {
    args = ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), ...rest];
  } else {
    const { mkdtempSync, symlinkSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync(join(os.tmpdir(), 'meshc-bench-'));
    cleanup = () => rmSync(dir, { recursive: true, force: true });
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
    args = ['--expose-gc', join(dir, 'dist/bench/control-plane.mjs'), ...rest];
  }
  const child = spawn(process.execPath, args, { stdio: 'inherit', env });
  child.on('exit', (code) => {
    cleanup();
    process.exit(code ?? 1);
  });
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
