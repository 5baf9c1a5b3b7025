// `npm run bench [-- --quick] [--only SUITES] [--readme] [--render]`: every benchmark in one run on this
// machine, inside network namespaces, cgroups and bpffs pins that it creates and removes (also on
// failure or Ctrl-C). Writes bench/results/latest.json (every figure with its conditions),
// bench/results/report.md and bench/results/latency.svg; --readme also rewrites the README's
// "Benchmarks" section from the result; --render renders them again from latest.json without
// measuring. --quick is the CI-sized run (under two minutes).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab, sleep } from './lib/lab.ts';
import { buildTools, missingTools, versions, type Tools } from './lib/tools.ts';
import { buildObject, tablesFor } from './lib/meshc.ts';
import { targetService, withFillers } from './lib/services.ts';
import { benchOneHop, oneHopOptions } from './datapath/one-hop.ts';
import { benchChain, chainOptions } from './chain.ts';
import { benchConnect, connectOptions } from './connect.ts';
import { benchPrograms, programsOptions } from './programs.ts';
import { benchSync, syncOptions } from './connect-sync.ts';
import { benchSimulator, simulatorMarkdown } from './simulator.ts';
import { benchKernel, kernelMarkdown } from './kernel.ts';
import { benchPlayground } from './playground.ts';
import { closingNote, evaluateTargets, isSkipped, renderChart, renderReport, updateReadme, type BenchResult, type Outcome } from './report.ts';
import { kernelSkipReason } from '../test/kernel/env.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const RESULTS = path.join(ROOT, 'bench', 'results');
export const SUITES = ['connect', 'programs', 'sync', 'oneHop', 'chain', 'simulator', 'kernel', 'playground', 'controlPlane'] as const;
type Suite = (typeof SUITES)[number];
const CHART = 'latency.svg';
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export interface RunOptions {
  quick: boolean;
  only?: Suite[];
  /** How long to wait for another bench run on this machine to finish (default 30 min). */
  lockWaitMs?: number;
  log?: (line: string) => void;
}

const LOCK = path.join(existsSync('/run') ? '/run' : os.tmpdir(), 'meshc-bench.lock');

/**
 * One bench run at a time on a machine: two runs would measure each other, and both would turn
 * the global kernel.bpf_stats_enabled on and off under each other. A lock directory holds the
 * owner's pid; a lock whose owner is gone is taken over. Waits up to `waitMs` for a running one.
 */
async function acquireRunLock(waitMs: number, log: (line: string) => void): Promise<() => void> {
  const end = Date.now() + waitMs;
  let said = false;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      return () => rmSync(LOCK, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner = 0;
    try {
      owner = Number(readFileSync(path.join(LOCK, 'pid'), 'utf8')) || 0;
    } catch {
      // the owner has made the directory but not written its pid yet
    }
    const made = statSync(LOCK, { throwIfNoEntry: false });
    if (!made) continue;
    if (owner === 0 && Date.now() - made.mtimeMs < 10_000) {
      await sleep(100);
      continue;
    }
    let alive = false;
    try {
      if (owner > 0) process.kill(owner, 0);
      alive = owner > 0;
    } catch {
      alive = false;
    }
    if (!alive) {
      rmSync(LOCK, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > end) throw new Error(`another bench run (pid ${owner}) holds ${LOCK}; waited ${Math.round(waitMs / 1000)} s`);
    if (!said) log(`bench: waiting for the bench run of pid ${owner} to finish (${LOCK})`);
    said = true;
    await sleep(1000);
  }
}

/** Why the live (kernel, namespace, proxy) suites cannot run here, or undefined. */
export function liveSkipReason(): string | undefined {
  const kernel = kernelSkipReason({ cgroup: true, netns: true });
  if (kernel) return kernel;
  const missing = missingTools();
  return missing.length > 0 ? `missing: ${missing.join(', ')}` : undefined;
}

async function controlPlane(quick: boolean): Promise<Outcome<Record<string, any>>> {
  const file = path.join(ROOT, 'bench', 'control-plane.ts');
  if (!existsSync(file)) return { skipped: 'not available (bench/control-plane.ts is not there yet)' };
  const mod = (await import(file)) as { runControlPlaneBench?: (o: Record<string, unknown>) => Promise<Record<string, any>> };
  if (typeof mod.runControlPlaneBench !== 'function') return { skipped: 'not available (bench/control-plane.ts has no runControlPlaneBench())' };
  const options = quick
    ? { services: 1000, endpoints: 5000, changes: 20, gapMs: 100, writer: 'count' }
    : { services: 10_000, endpoints: 50_000, changes: 100, gapMs: 100, writer: 'count' };
  try {
    return await mod.runControlPlaneBench(options);
  } catch (error) {
    return { skipped: `bench/control-plane.ts failed: ${(error as Error).message.split('\n')[0]}` };
  }
}

export async function runBench(options: RunOptions): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const want = (s: Suite) => !options.only || options.only.includes(s);
  const release = await acquireRunLock(options.lockWaitMs ?? 30 * 60_000, log);
  const started = performance.now();
  const suites: Partial<BenchResult['suites']> = {};
  const live = liveSkipReason();
  const statsBefore = live ? undefined : readFileSync(STATS_SYSCTL, 'utf8').trim();
  const lab = new Lab();
  const temp: string[] = [];
  const interrupted = async (signal: string) => {
    log(`bench: ${signal}: cleaning up`);
    if (statsBefore !== undefined) writeFileSync(STATS_SYSCTL, statsBefore);
    for (const p of await lab.close()) log(`bench: cleanup: ${p}`);
    for (const dir of temp) rmSync(dir, { recursive: true, force: true });
    release();
    process.exit(130);
  };
  const onInt = () => void interrupted('SIGINT');
  const onTerm = () => void interrupted('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    const skipAll = (reason: string) => {
      for (const s of ['connect', 'programs', 'sync', 'oneHop', 'chain'] as const) suites[s] = { skipped: reason };
    };
    if (live) {
      log(`bench: live suites skipped: ${live}`);
      skipAll(live);
    } else if (['connect', 'programs', 'sync', 'oneHop', 'chain'].some((s) => want(s as Suite))) {
      const tools: Tools = buildTools();
      temp.push(tools.dir);
      const objectDir = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-object-'));
      temp.push(objectDir);
      log('bench: compiling meshc.bpf.o from the current source');
      const object = await buildObject(objectDir);
      if (want('connect')) {
        log('bench: connect() cost');
        suites.connect = await benchConnect(lab, tools, object, connectOptions(options.quick), log);
      }
      if (want('programs')) {
        log('bench: per-program cost per connect() (kernel.bpf_stats_enabled)');
        suites.programs = await benchPrograms(lab, tools, [{ label: 'meshc', path: object }], programsOptions(options.quick), log);
      }
      if (want('sync')) {
        log('bench: manifest change → maps updated (meshc agent --watch)');
        suites.sync = await benchSync(lab, objectDir, syncOptions(options.quick), log);
      }
      if (want('oneHop')) {
        log('bench: data path, one hop');
        const o = oneHopOptions(options.quick);
        const specs = withFillers(o.services, [targetService()]).reverse();
        suites.oneHop = await benchOneHop(lab, tools, object, { specs, tables: tablesFor(specs) }, o, log);
      }
      if (want('chain')) {
        log('bench: five-service chain');
        suites.chain = await benchChain(lab, tools, object, chainOptions(options.quick), log);
      }
    }
    // The live suites' processes are gone before the CPU-bound ones run.
    for (const p of await lab.close()) log(`bench: cleanup: ${p}`);
    if (want('simulator')) {
      log('bench: simulator');
      suites.simulator = await benchSimulator(options.quick);
    }
    if (want('kernel')) {
      log('bench: kernel decisions and compile time');
      suites.kernel = await benchKernel(options.quick);
    }
    if (want('playground')) {
      log('bench: playground');
      try {
        suites.playground = await benchPlayground(options.quick ? 1 : 5);
      } catch (error) {
        suites.playground = { skipped: `the playground bench could not run: ${(error as Error).message.split('\n')[0]}` };
      }
    }
    if (want('controlPlane')) {
      log('bench: control plane');
      suites.controlPlane = await controlPlane(options.quick);
    }
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    const problems = await lab.close();
    for (const p of problems) log(`bench: cleanup: ${p}`);
    for (const dir of temp) rmSync(dir, { recursive: true, force: true });
    if (statsBefore !== undefined && readFileSync(STATS_SYSCTL, 'utf8').trim() !== statsBefore) writeFileSync(STATS_SYSCTL, statsBefore);
    release();
  }
  for (const s of SUITES) suites[s] ??= { skipped: 'not selected (--only)' };
  const cpus = os.cpus();
  const base = {
    schema: 1 as const,
    date: new Date().toISOString(),
    mode: options.quick ? ('quick' as const) : ('full' as const),
    machine: {
      cpu: cpus[0]?.model ?? 'unknown',
      cores: cpus.length,
      kernel: os.release(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      os: osName(),
      versions: versions(),
    },
    durationSeconds: (performance.now() - started) / 1000,
    suites: suites as BenchResult['suites'],
  };
  const result: BenchResult = { ...base, targets: evaluateTargets(base.suites), chart: `bench/results/${CHART}` };
  return result;
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

/** Writes latest.json, report.md and the chart into `dir`. */
export function writeResults(result: BenchResult, dir = RESULTS): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = {
    simulator: isSkipped(result.suites.simulator) ? undefined : simulatorMarkdown(result.suites.simulator),
    kernel: isSkipped(result.suites.kernel) ? undefined : kernelMarkdown(result.suites.kernel),
  };
  writeFileSync(path.join(dir, 'report.md'), renderReport(result, closingNote(result), md));
  writeFileSync(path.join(dir, CHART), renderChart(result));
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      readme: { type: 'boolean' },
      render: { type: 'boolean' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      `Usage: npm run bench [-- --quick] [--only ${SUITES.join(',')}] [--readme] [--out DIR]\n` +
        '       npm run bench -- --render [--readme] [--out DIR]   (report.md and chart again from latest.json)\n',
    );
    return;
  }
  const dir = values.out ? path.resolve(values.out) : RESULTS;
  let result: BenchResult;
  if (values.render) {
    result = JSON.parse(readFileSync(path.join(dir, 'latest.json'), 'utf8')) as BenchResult;
    result.targets = evaluateTargets(result.suites);
  } else {
    const only = values.only?.split(',').map((s) => s.trim());
    const unknown = only?.filter((s) => !(SUITES as readonly string[]).includes(s)) ?? [];
    if (unknown.length > 0) throw new Error(`--only: unknown suite ${unknown.join(', ')} (known: ${SUITES.join(', ')})`);
    result = await runBench({ quick: values.quick ?? false, only: only as Suite[] | undefined });
  }
  writeResults(result, dir);
  if (values.readme) updateReadme(result, path.join(ROOT, 'README.md'));
  process.stderr.write(`bench: wrote ${path.relative(ROOT, dir) || dir}/latest.json, report.md, ${CHART}${values.readme ? ' and the README\'s Benchmarks section' : ''}\n`);
  for (const t of result.targets) process.stderr.write(`  ${t.met === null ? 'n/a ' : t.met ? 'met ' : 'MISS'}  ${t.name}: ${t.measured}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  cli().catch((error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  });
}
