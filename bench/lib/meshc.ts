// meshc in the bench: the programs compiled once per run (from the current source, into a temp
// directory), loaded with the direct loader, tables written, hooks attached to one cgroup of the
// bench's; and the kernel's own accounting of the programs' run time (kernel.bpf_stats_enabled).
import { readFileSync, writeFileSync } from 'node:fs';
import { loadObject, type BpfLink, type BpfObject } from '../../src/loader/index.ts';
import { compilePolicy } from '../../src/build/compile.ts';
import { writeTables } from '../../src/sinks/apply.ts';
import { KernelSink } from '../../src/sinks/kernel.ts';
import { compileTables, type CompiledTables } from '../../src/tables/compile.ts';
import { attachablePrograms } from '../../src/agent/agent.ts';
import { run } from './lab.ts';
import { modelOf, type ServiceSpec } from './services.ts';

/** Compiles meshc.bpf.o (no Wasm) into `dir`; returns the object's path. */
export async function buildObject(dir: string): Promise<string> {
  const compiled = await compilePolicy({ outDir: dir, wasm: false });
  return compiled.object;
}

export function tablesFor(services: ServiceSpec[]): CompiledTables {
  return compileTables(modelOf(services));
}

/** The programs loaded with their maps pinned under `pins`, tables written, hooks on `cgroup`. */
export class Routing {
  private constructor(
    readonly obj: BpfObject,
    private readonly links: BpfLink[],
    readonly writeMs: number,
  ) {}

  static attach(objectPath: string, pins: string, cgroup: string, tables: CompiledTables): Routing {
    const obj = loadObject(objectPath, { pinRoot: pins });
    const links: BpfLink[] = [];
    try {
      const t0 = performance.now();
      writeTables(new KernelSink(obj), tables);
      const writeMs = performance.now() - t0;
      for (const p of attachablePrograms(obj)) links.push(obj.program(p.name).attachCgroup(cgroup));
      return new Routing(obj, links, writeMs);
    } catch (error) {
      for (const l of links) l.detach();
      obj.close();
      throw error;
    }
  }

  programIds(): number[] {
    return attachablePrograms(this.obj).map((p) => this.obj.program(p.name).info.id);
  }

  close(): void {
    for (const l of this.links.splice(0)) l.detach();
    this.obj.close();
  }
}

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/**
 * Runs `body` with kernel.bpf_stats_enabled=1 and restores the previous value after, also on
 * failure. The setting is global, so it stays on only for the measured run.
 */
export async function withBpfStats<T>(body: () => Promise<T>): Promise<T> {
  const before = readFileSync(STATS_SYSCTL, 'utf8').trim();
  writeFileSync(STATS_SYSCTL, '1');
  try {
    return await body();
  } finally {
    writeFileSync(STATS_SYSCTL, before);
  }
}

export interface ProgramRunTime {
  name: string;
  runTimeNs: number;
  runCount: number;
}

/** run_time_ns and run_cnt of each program (bpftool prog show, with stats enabled). */
export function programRunTimes(ids: number[]): ProgramRunTime[] {
  return ids.map((id) => {
    const info = JSON.parse(run('bpftool', ['prog', 'show', 'id', String(id), '--json'])) as { name?: string; run_time_ns?: number; run_cnt?: number };
    return { name: info.name ?? `id ${id}`, runTimeNs: info.run_time_ns ?? 0, runCount: info.run_cnt ?? 0 };
  });
}

/** after − before, per program, for the programs that ran. */
export function runTimeDelta(before: ProgramRunTime[], after: ProgramRunTime[]): ProgramRunTime[] {
  return after
    .map((a, i) => ({ name: a.name, runTimeNs: a.runTimeNs - before[i]!.runTimeNs, runCount: a.runCount - before[i]!.runCount }))
    .filter((d) => d.runCount > 0);
}
