// Per-program cost of meshc's hooks per connection, with kernel.bpf_stats_enabled=1 (run_time_ns
// and run_cnt of each program, from bpftool), next to direct connect() in the same run:
//   direct         a pod IP, from a cgroup without hooks
//   no-service     that pod IP, from the routed cgroup (the hooks run and find no Service; the
//                  pod backs no Service)
//   service        the ClusterIP of one Service with three pods, from the routed cgroup
//   least-conn     the same pods behind a second Service with meshc.io/lb-algorithm: least-conn
//   monitor        as service, with a ring-buffer reader attached (what `meshc monitor` does)
// Setups are interleaved in each round; each figure is the median over rounds. The connect()
// times (p50) come from the same runs, so they carry the stats' own cost (two clock reads per
// program run) in every setup that has hooks.
//
// `npx tsx bench/programs.ts [--services 10,100000] [--connects N] [--rounds R] [--json FILE]
//   [--baseline OBJECT] [--variant LABEL=OBJECT ...] [--floor]`: --floor measures this tree's object with
// mc_sock4_connect and mc_sock_release returning at once (no-service only: the cost of a program run that does
// nothing, with the stats on); --baseline (and each --variant) also measures another meshc.bpf.o (e.g. one built from an
// older revision) in a cgroup of its own, interleaved with this tree's, for before/after ratios.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Lab, removePins, RT_PRIORITY, run, type Placement } from './lib/lab.ts';
import { buildObject, programRunTimes, Routing, runTimeDelta, tablesFor, withBpfStats, type ProgramRunTime } from './lib/meshc.ts';
import { TARGET, withFillers, type ServiceSpec } from './lib/services.ts';
import { buildTools, missingTools, type Tools } from './lib/tools.ts';
import { ALL_EVENTS, switchEvents } from '../src/glue/events.ts';
import { openRingBuffer, type RingBuffer } from '../src/loader/index.ts';
import { compileObject } from '../src/build/compile.ts';
import { median } from './datapath/one-hop.ts';

export const PROGRAM_SETUPS = ['direct', 'no-service', 'service', 'least-conn', 'monitor'] as const;
export type ProgramSetup = (typeof PROGRAM_SETUPS)[number];

/** The Service the client dials: three pods. */
export const PODS = ['10.244.0.10', '10.244.0.11', '10.244.0.12'];
/** The least-connections Service's ClusterIP (same pods, same ports). */
export const LEAST_CONN_IP = '10.96.0.11';
/** What no-service and direct dial: a pod that backs no Service. */
export const OTHER = '10.244.0.99';

export interface ProgramsOptions {
  sizes: number[];
  connects: number;
  warmup: number;
  rounds: number;
}

export function programsOptions(quick: boolean): ProgramsOptions {
  return quick ? { sizes: [10], connects: 5000, warmup: 500, rounds: 3 } : { sizes: [10, 100_000], connects: 20_000, warmup: 2000, rounds: 5 };
}

export interface ProgramCost {
  name: string;
  /** Program runs per connect(). */
  runsPerConnect: number;
  /** run_time_ns / run_cnt. */
  nsPerRun: number;
  /** run_time_ns per connect(). */
  nsPerConnect: number;
}

export interface ProgramsRow {
  services: number;
  /** Which object ('' for direct, which runs no hooks). */
  object: string;
  setup: ProgramSetup;
  /** Median over rounds. */
  p50Ns: number;
  p99Ns: number;
  /** p50 / direct's p50 of the same round, median over rounds. */
  p50Ratio: number;
  programs: ProgramCost[];
  /** Sum of every program's run time per connect(). */
  totalNsPerConnect: number;
  /** monitor only: records the reader got per connect(), and records lost (mc_metrics). */
  eventsPerConnect?: number;
  eventsLost?: number;
}

export interface ProgramsResult {
  conditions: Record<string, unknown>;
  rows: ProgramsRow[];
}

const EVENTS_LOST_METRIC = 12;
/** How often the bench's reader polls, as meshc monitor does. */
const MONITOR_POLL_MS = 50;

function metricSum(routing: Routing, index: number): number {
  const map = routing.obj.map('mc_metrics');
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index);
  const value = map.lookup(key);
  if (!value) return 0;
  let sum = 0;
  for (let off = 0; off + 8 <= value.length; off += 8) sum += Number(value.readBigUInt64LE(off));
  return sum;
}

/** Turns the hooks' flow events on or off, where the object has a run-time switch (mc_config). */
function setEvents(routing: Routing, on: boolean): boolean {
  if (!routing.obj.maps().some((m) => m.name === 'mc_config')) return false;
  switchEvents(routing.obj.map('mc_config'), on ? ALL_EVENTS : 0);
  return true;
}

async function dial(lab: Lab, tools: Tools, where: Placement, addr: string, o: ProgramsOptions): Promise<{ p50: number; p99: number }> {
  const out = await lab.exec(where, [tools.connectbench, 'dial', addr, String(o.connects), String(o.warmup)]);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { errors: number; firstError: string; ns: { p50: number; p99: number } };
  if (r.errors > 0) throw new Error(`connect() to ${addr}: ${r.errors} of ${o.connects} failed (${r.firstError})`);
  return r.ns;
}

/** An object to measure: this tree's, or a baseline built from another revision (--baseline). */
export interface ProgramsObject {
  label: string;
  path: string;
  /** Measured in these setups only (an object whose programs do nothing cannot reach a Service). */
  setups?: ProgramSetup[];
}

interface Sample {
  p50: number;
  p99: number;
  programs: ProgramRunTime[];
  events: number;
  lost: number;
}

export async function benchPrograms(lab: Lab, tools: Tools, objects: ProgramsObject[], o: ProgramsOptions, log: (line: string) => void): Promise<ProgramsResult> {
  const svc: ServiceSpec = { name: 'target', clusterIP: TARGET.clusterIP, port: TARGET.port, targetPort: TARGET.targetPort, pods: PODS };
  const lc: ServiceSpec = { ...svc, name: 'target-lc', clusterIP: LEAST_CONN_IP, algorithm: 'least-conn' };
  const ns = lab.netns('pg', [TARGET.clusterIP, LEAST_CONN_IP, ...PODS, OTHER]);
  const plain = lab.cgroup('pg-plain');
  const routed = objects.map((_, i) => lab.cgroup(`pg-routed${i}`));
  for (const pod of [...PODS, OTHER]) {
    const server = lab.spawn({ netns: ns, cgroup: plain, cpus: '1', realtime: true }, [tools.connectbench, 'serve', `${pod}:${TARGET.targetPort}`], `connectbench serve ${pod}`);
    await server.waitLine((l) => l === 'ready');
  }
  const pod = `${OTHER}:${TARGET.targetPort}`;
  const cluster = `${TARGET.clusterIP}:${TARGET.port}`;
  const addr: Record<ProgramSetup, string> = { direct: pod, 'no-service': pod, service: cluster, 'least-conn': `${LEAST_CONN_IP}:${TARGET.port}`, monitor: cluster };

  const rows: ProgramsRow[] = [];
  for (const n of o.sizes) {
    const tables = tablesFor(withFillers(n, [svc, lc]));
    const routings: Routing[] = [];
    const pins: string[] = [];
    try {
      for (const [i, object] of objects.entries()) {
        pins.push(lab.pinDir(`pg${n}-${i}`));
        routings.push(Routing.attach(object.path, pins[i]!, routed[i]!, tables));
      }
      const switchable = routings.map((r) => setEvents(r, false));
      // Cells: direct once, then each object's three setups; all interleaved in every round.
      const cells = [
        { object: -1, setup: 'direct' as ProgramSetup },
        ...objects.flatMap((obj, i) => (obj.setups ?? ['no-service', 'service', 'least-conn', 'monitor'] as ProgramSetup[]).map((setup) => ({ object: i, setup }))),
      ];
      const samples = cells.map(() => [] as Sample[]);
      const place = (c: (typeof cells)[number]): Placement => ({ netns: ns, cgroup: c.object < 0 ? plain : routed[c.object]!, cpus: '0', realtime: true });
      for (const c of cells) await dial(lab, tools, place(c), addr[c.setup], { ...o, connects: o.warmup }); // cold caches
      await withBpfStats(async () => {
        for (let round = 0; round < o.rounds; round++) {
          for (const [ci, c] of cells.entries()) {
            const routing = c.object < 0 ? undefined : routings[c.object]!;
            const ids = routing ? routing.programIds() : [];
            let reader: RingBuffer | undefined;
            let events = 0;
            if (routing && c.setup === 'monitor') {
              reader = openRingBuffer(routing.obj.map('mc_events'), () => void events++, { start: false, pollMs: MONITOR_POLL_MS });
              reader.consume(); // what earlier setups left
              events = 0;
              if (switchable[c.object]) setEvents(routing, true);
              reader.start();
              // The reader competes with the SCHED_FIFO client and servers, as a monitor on a
              // busy node would run at a priority of its own: the same class for the run.
              run('chrt', ['-a', '-f', '-p', String(RT_PRIORITY), String(process.pid)]);
            }
            const lostBefore = routing ? metricSum(routing, EVENTS_LOST_METRIC) : 0;
            const before = programRunTimes(ids);
            let ns: { p50: number; p99: number };
            try {
              ns = await dial(lab, tools, place(c), addr[c.setup], o);
            } finally {
              if (reader) {
                run('chrt', ['-a', '-o', '-p', '0', String(process.pid)]);
                if (switchable[c.object]) setEvents(routing!, false);
                reader.consume();
                reader.close();
              }
            }
            const programs = runTimeDelta(before, programRunTimes(ids));
            samples[ci]!.push({ ...ns, programs, events, lost: routing ? metricSum(routing, EVENTS_LOST_METRIC) - lostBefore : 0 });
          }
        }
      });
      const perConnect = o.connects + o.warmup;
      const direct = samples[0]!;
      for (const [ci, c] of cells.entries()) {
        const list = samples[ci]!;
        const names = [...new Set(list.flatMap((r) => r.programs.map((p) => p.name)))];
        const programs: ProgramCost[] = names.map((name) => {
          const of = list.map((r) => r.programs.find((p) => p.name === name) ?? { name, runTimeNs: 0, runCount: 0 });
          return {
            name,
            runsPerConnect: median(of.map((p) => p.runCount / perConnect)),
            nsPerRun: median(of.map((p) => (p.runCount ? p.runTimeNs / p.runCount : 0))),
            nsPerConnect: median(of.map((p) => p.runTimeNs / perConnect)),
          };
        });
        const row: ProgramsRow = {
          services: n,
          object: c.object < 0 ? '' : objects[c.object]!.label,
          setup: c.setup,
          p50Ns: median(list.map((r) => r.p50)),
          p99Ns: median(list.map((r) => r.p99)),
          p50Ratio: median(list.map((r, i) => r.p50 / direct[i]!.p50)),
          programs,
          totalNsPerConnect: median(list.map((r) => r.programs.reduce((sum, p) => sum + p.runTimeNs, 0) / perConnect)),
        };
        if (c.setup === 'monitor') {
          row.eventsPerConnect = median(list.map((r) => r.events / perConnect));
          row.eventsLost = list.reduce((sum, r) => sum + r.lost, 0);
        }
        rows.push(row);
        log(`  programs: ${String(n).padStart(6)} services ${`${row.object} ${c.setup}`.trim().padEnd(18)} connect() p50 ${(row.p50Ns / 1000).toFixed(2).padStart(6)} µs ×${row.p50Ratio.toFixed(3)} of direct;` +
          ` meshc programs ${Math.round(row.totalNsPerConnect)} ns per connect()` +
          (row.eventsPerConnect !== undefined ? `; ${row.eventsPerConnect.toFixed(2)} events per connect(), ${row.eventsLost} lost` : ''));
        for (const p of programs) {
          log(`  programs:        ${p.name.padEnd(22)} ${p.runsPerConnect.toFixed(2).padStart(5)} runs per connect() × ${Math.round(p.nsPerRun).toString().padStart(5)} ns = ${Math.round(p.nsPerConnect).toString().padStart(5)} ns`);
        }
      }
    } finally {
      for (const r of routings) r.close();
      for (const p of pins) removePins(p);
    }
  }
  return {
    conditions: {
      connectsPerRound: o.connects,
      warmupConnects: o.warmup,
      rounds: o.rounds,
      service: `one Service (${TARGET.clusterIP}:${TARGET.port}) with three pods (${PODS.join(', ')}), the rest fillers with one pod each; direct and no-service dial ${OTHER}:${TARGET.targetPort}, a pod of no Service`,
      stats: 'kernel.bpf_stats_enabled=1 for the measured rounds (restored after); run_time_ns and run_cnt from bpftool prog show, per round; per connect() = over warmup + timed connects of the round',
      reported: `median over ${o.rounds} round(s), setups interleaved in each round`,
      client: 'bench/lib/connectbench.c dial (blocking connect(), SO_LINGER 0), pinned to CPU 0; servers connectbench serve, pinned to CPU 1',
      scheduling: `client and servers under SCHED_FIFO ${RT_PRIORITY}: the machine is shared, and a program preempted by a neighbour counts the time it waited in run_time_ns`,
      monitor: `a ring-buffer reader on mc_events in the bench process (libbpf ring_buffer on the event loop, woken by the kernel and polled every ${MONITOR_POLL_MS} ms), as meshc monitor reads it; events switched on (mc_config) only while it reads, where the object has the switch`,
    },
    rows,
  };
}

/**
 * This tree's generated C (buildObject left it in `dir`) with mc_sock4_connect and mc_sock_release
 * returning at once, compiled: the same maps, programs that do nothing.
 */
function buildFloor(dir: string): string {
  const source = readFileSync(path.join(dir, 'meshc.bpf.c'), 'utf8');
  const connect = 'return mc_sock_verdict(__mc_sock4_xlate_fwd(ctx, 0));';
  const release = /(int mc_sock_release\(struct bpf_sock \*sk\)\n\{\n(?:\t[^\n]*;\n)*)\n/;
  if (!source.includes(connect) || !release.test(source)) throw new Error('--floor: bpf/sock.bpf.c changed shape; update buildFloor');
  const floor = source.replace(connect, 'return SYS_PROCEED;').replace(release, '$1\n\treturn SYS_PROCEED;\n');
  const file = path.join(dir, 'floor.bpf.c');
  writeFileSync(file, floor);
  compileObject(file, path.join(dir, 'floor.bpf.o'));
  return path.join(dir, 'floor.bpf.o');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      services: { type: 'string' }, connects: { type: 'string' }, rounds: { type: 'string' }, json: { type: 'string' }, quick: { type: 'boolean' },
      baseline: { type: 'string' },
      variant: { type: 'string', multiple: true },
      floor: { type: 'boolean' },
    },
  });
  const o = programsOptions(values.quick ?? false);
  if (values.services) o.sizes = values.services.split(',').map(Number);
  if (values.connects) o.connects = Number(values.connects);
  if (values.rounds) o.rounds = Number(values.rounds);
  const missing = missingTools(['gcc', 'bpftool', 'taskset', 'chrt', 'ip']);
  if (missing.length > 0) throw new Error(`missing: ${missing.join(', ')}`);
  const tools = buildTools();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-programs-'));
  const lab = new Lab();
  const stop = () => void lab.close().then(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    const objects: ProgramsObject[] = [];
    if (values.baseline) objects.push({ label: 'before', path: path.resolve(values.baseline) });
    objects.push({ label: values.baseline ? 'after' : 'meshc', path: await buildObject(dir) });
    for (const v of values.variant ?? []) {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new Error(`--variant ${v}: want LABEL=OBJECT`);
      objects.push({ label: v.slice(0, eq), path: path.resolve(v.slice(eq + 1)) });
    }
    // The floor: programs that return at once, attached the same way; what bpf_stats counts for
    // a program run that does nothing on this machine (no-service only).
    if (values.floor) objects.push({ label: 'floor', path: buildFloor(dir), setups: ['no-service'] });
    const result = await benchPrograms(lab, tools, objects, o, (l) => console.log(l));
    if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
  } finally {
    const problems = await lab.close();
    for (const p of problems) console.error(`cleanup: ${p}`);
    rmSync(dir, { recursive: true, force: true });
    rmSync(tools.dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
