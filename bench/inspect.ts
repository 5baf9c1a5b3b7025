// `meshc inspect` at scale: pinned maps with N frontends (test/inspect/scale.ts), each on its own
// backend table and all on one shared table, read, decoded and printed. Reports the CPU time of
// that work in this process (the best of three) and the wall time of the CLI (`--json` and the
// table), with the machine's load average beside it. Issue 11 item 7's target: 100,000 frontends
// in under 5 s; linearity is the CPU of N frontends against N/10 measured in the same run (x10 is
// linear, x100 quadratic). test/inspect/inspect-scale.test.ts checks the output at that size and
// times nothing. Needs root (pins in bpffs).
// Run: npx tsx bench/inspect.ts [--frontends N] [--out FILE]
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeServices } from '../src/inspect/decode.ts';
import { formatInspect } from '../src/inspect/format.ts';
import { readPinned } from '../src/inspect/read.ts';
import { ROOT } from '../test/kernel/env.ts';
import { fillPinnedMaps } from '../test/inspect/scale.ts';

interface ShapeResult {
  frontends: number;
  shape: 'own tables' | 'one shared table';
  cpuMs: { read: number; decode: number; format: number; total: number };
  /** CPU of the same work at a tenth of the frontends, and the ratio (10 is linear). */
  tenthCpuMs: number;
  ratio: number;
  cliWallMs: { json: number; table: number };
  /** CPU (user + system) of the CLI process, start-up included: what wall time would be on idle CPUs. */
  cliCpuMs: { json: number; table: number };
  loadAverage: number;
}

function cpuNow(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
}

function measure(pin: string): ShapeResult['cpuMs'] {
  let best: ShapeResult['cpuMs'] | undefined;
  for (let run = 0; run < 3; run++) {
    const t0 = cpuNow();
    const input = readPinned(pin);
    const t1 = cpuNow();
    const result = decodeServices(input);
    const t2 = cpuNow();
    formatInspect(result);
    const t3 = cpuNow();
    const cpu = { read: t1 - t0, decode: t2 - t1, format: t3 - t2, total: t3 - t0 };
    if (!best || cpu.total < best.total) best = cpu;
  }
  return Object.fromEntries(Object.entries(best!).map(([k, v]) => [k, Math.round(v)])) as ShapeResult['cpuMs'];
}

/** CPU of this process's waited-for children so far (/proc/self/stat cutime + cstime, 100 Hz ticks). */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/** Runs `meshc inspect` on the pins: its wall time and its CPU. */
function cli(pin: string, json: boolean): { wall: number; cpu: number } {
  const cpu0 = childrenCpuMs();
  const started = performance.now();
  const r = spawnSync(process.execPath, ['bin/meshc.js', 'inspect', ...(json ? ['--json'] : []), '--pin', pin], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`meshc inspect failed: ${r.stderr}`);
  return { wall: Math.round(performance.now() - started), cpu: childrenCpuMs() - cpu0 };
}

function withPins<T>(frontends: number, shared: boolean, work: (pin: string) => T): T {
  const pin = `/sys/fs/bpf/meshc-bench-inspect-${process.pid}`;
  rmSync(pin, { recursive: true, force: true });
  try {
    fillPinnedMaps(pin, frontends, { shared });
    return work(pin);
  } finally {
    rmSync(pin, { recursive: true, force: true });
  }
}

export function benchInspect(frontends: number): ShapeResult[] {
  const results: ShapeResult[] = [];
  for (const shared of [false, true]) {
    const tenthCpuMs = withPins(Math.round(frontends / 10), shared, (pin) => measure(pin).total);
    results.push(
      withPins(frontends, shared, (pin) => {
        const cpuMs = measure(pin);
        return {
          frontends,
          shape: shared ? 'one shared table' : 'own tables',
          cpuMs,
          tenthCpuMs,
          ratio: Math.round((cpuMs.total / Math.max(1, tenthCpuMs)) * 10) / 10,
          ...((json, table) => ({ cliWallMs: { json: json.wall, table: table.wall }, cliCpuMs: { json: json.cpu, table: table.cpu } }))(cli(pin, true), cli(pin, false)),
          loadAverage: Math.round(os.loadavg()[0]! * 10) / 10,
        } satisfies ShapeResult;
      }),
    );
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { frontends: { type: 'string' }, out: { type: 'string' } } });
  const frontends = Number(values.frontends ?? 100_000);
  const results = benchInspect(frontends);
  for (const r of results) {
    console.log(`${r.frontends} frontends, ${r.shape}: CPU ${r.cpuMs.total} ms (read ${r.cpuMs.read}, decode ${r.cpuMs.decode}, format ${r.cpuMs.format}); x${r.ratio} the CPU of ${r.frontends / 10} (${r.tenthCpuMs} ms; x10 is linear); CLI --json wall ${r.cliWallMs.json} ms CPU ${r.cliCpuMs.json} ms, table wall ${r.cliWallMs.table} ms CPU ${r.cliCpuMs.table} ms (load ${r.loadAverage} on ${os.cpus().length} CPUs)`);
    console.log(`  target (issue 11 item 7) under 5,000 ms: CPU ${r.cpuMs.total < 5000 ? 'met' : 'NOT met'}, CLI CPU (--json, start-up included) ${r.cliCpuMs.json < 5000 ? 'met' : 'NOT met'}, CLI wall (--json) ${r.cliWallMs.json < 5000 ? 'met' : 'NOT met'}`);
  }
  const out = values.out ?? join(ROOT, 'bench/results/inspect.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, results }, null, 2)}\n`);
}
