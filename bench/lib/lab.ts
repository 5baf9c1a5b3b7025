// The bench's sandbox: network namespaces, cgroups and bpffs pin directories that it creates
// (named meshc-bench-<tag>-*), processes placed in them, and the cleanup of all of it in reverse
// order, also when a step fails. Nothing here touches a namespace, cgroup or pin it did not make.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { isBpffs, mountBpffs } from '../../src/loader/index.ts';

import { CGROUP2_ROOT } from '../../src/loader/cgroup.ts';
/** The cgroup v2 mount, found in /proc/self/mounts. */
export const CGROUP_ROOT = CGROUP2_ROOT;
export const BPFFS = '/sys/fs/bpf';
const PREFIX = 'meshc-bench-';

/** Runs a command to completion; throws with its stderr when it fails. */
export function run(cmd: string, args: string[], input?: string): string {
  const res = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 64 << 20 });
  if (res.error) throw new Error(`${cmd} ${args.slice(0, 6).join(' ')}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${cmd} ${args.slice(0, 6).join(' ')}: exit ${res.status}: ${res.stderr.trim().slice(0, 500)}`);
  return res.stdout;
}

export function which(cmd: string): string | undefined {
  const res = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : undefined;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Placement {
  netns: string;
  /** cgroup v2 directory the process joins before it enters the namespace. */
  cgroup: string;
  /** CPU list for taskset, e.g. "0"; unpinned when absent. */
  cpus?: string;
  /** Run under SCHED_FIFO (see setRealtime). */
  realtime?: boolean;
}

/** The SCHED_FIFO priority of the latency runs' processes. */
export const RT_PRIORITY = 10;

/**
 * Moves processes (every thread) to SCHED_FIFO, or back to SCHED_OTHER. The latency runs use it
 * because this machine is shared: under normal scheduling another tenant's busy process delays
 * a wake-up by milliseconds, and p99 measures the neighbours instead of the setup. The kernel's
 * RT throttling (sched_rt_runtime_us) still leaves others their share; saturation runs, which
 * would hold a CPU, never run under it.
 */
export function setRealtime(procs: Proc[], on: boolean): void {
  for (const p of procs) {
    if (p.exited !== undefined) continue;
    run('chrt', ['-a', ...(on ? ['-f', '-p', String(RT_PRIORITY)] : ['-o', '-p', '0']), String(p.pid)]);
  }
}

/** A process started in a namespace and cgroup; its pid is the program's own (every step execs). */
export class Proc {
  readonly lines: string[] = [];
  stderr = '';
  exited: number | null | undefined;
  private waiters: Array<() => void> = [];

  constructor(readonly child: ChildProcess, readonly label: string) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const w of this.waiters.splice(0)) w();
    });
    child.stderr!.on('data', (d) => {
      if (this.stderr.length < 20000) this.stderr += d;
      for (const w of this.waiters.splice(0)) w();
    });
    child.on('exit', (code, signal) => {
      this.exited = code ?? (signal ? -1 : null);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first stdout line that matches, or throws when the process exits first. */
  async waitLine(match: (line: string) => boolean, ms = 10_000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const line = this.lines.find(match);
      if (line !== undefined) return line;
      if (this.exited !== undefined) throw new Error(`${this.label} exited (${this.exited}) before it printed the expected line; stderr: ${this.stderr.trim().slice(-800)}`);
      if (Date.now() > end) throw new Error(`${this.label}: timed out after ${ms} ms; stderr: ${this.stderr.trim().slice(-800)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves once stderr so far satisfies `match`; throws when the process exits first. */
  async waitStderr(match: (text: string) => boolean, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!match(this.stderr)) {
      if (this.exited !== undefined) throw new Error(`${this.label} exited (${this.exited}); stderr: ${this.stderr.trim().slice(-800)}`);
      if (Date.now() > end) throw new Error(`${this.label}: timed out after ${ms} ms; stderr: ${this.stderr.trim().slice(-800)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the process to exit and returns its stdout. */
  async done(ms = 600_000): Promise<string> {
    const end = Date.now() + ms;
    while (this.exited === undefined) {
      if (Date.now() > end) {
        this.child.kill('SIGKILL');
        throw new Error(`${this.label}: did not finish within ${ms} ms`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    // Let the last stdout lines arrive.
    await sleep(5);
    if (this.exited !== 0) throw new Error(`${this.label} failed (exit ${this.exited}): ${(this.stderr.trim() || this.lines.join('\n')).slice(-800)}`);
    return this.lines.join('\n');
  }

  /** Waits until the process (inside its namespace) listens on TCP `port`. */
  async listening(port: number, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    for (;;) {
      if (this.exited !== undefined) throw new Error(`${this.label} exited (${this.exited}) before listening on ${port}; stderr: ${this.stderr.trim().slice(-800)}`);
      try {
        // The process's own view of /proc/net/tcp is its namespace's.
        const table = readFileSync(`/proc/${this.pid}/net/tcp`, 'utf8');
        if (table.split('\n').some((l) => { const f = l.trim().split(/\s+/); return f[1]?.endsWith(`:${hex}`) && f[3] === '0A'; })) return;
      } catch {
        // not there yet
      }
      if (Date.now() > end) throw new Error(`${this.label}: not listening on ${port} after ${ms} ms; stderr: ${this.stderr.trim().slice(-800)}`);
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    if (this.exited !== undefined) return;
    this.child.kill('SIGTERM');
    const end = Date.now() + 3000;
    while (this.exited === undefined && Date.now() < end) await sleep(10);
    if (this.exited === undefined) {
      this.child.kill('SIGKILL');
      const hard = Date.now() + 3000;
      while (this.exited === undefined && Date.now() < hard) await sleep(10);
    }
  }
}

export class Lab {
  readonly tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly cleanups: Array<{ what: string; fn: () => void | Promise<void> }> = [];
  private readonly procs: Proc[] = [];
  private readonly cgroups: string[] = [];

  /** Registers a cleanup step; steps run in reverse order in close(). */
  defer(what: string, fn: () => void | Promise<void>): void {
    this.cleanups.push({ what, fn });
  }

  /** A network namespace with lo up, the given IPv4 addresses (/32) on lo, TIME_WAIT reuse on. */
  netns(label: string, addresses: string[]): string {
    const name = `${PREFIX}${this.tag}-${label}`;
    run('ip', ['netns', 'add', name]);
    this.defer(`netns ${name}`, () => void spawnSync('ip', ['netns', 'del', name]));
    run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    // Tens of thousands of short connections between the same two addresses: reuse TIME_WAIT
    // ports (the default, 2, does it only for 127/8) and use the whole ephemeral range.
    run('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);
    if (addresses.length > 0) run('ip', ['-n', name, '-batch', '-'], addresses.map((a) => `addr add ${a}/32 dev lo`).join('\n') + '\n');
    return name;
  }

  /** A cgroup v2 directory of ours. */
  cgroup(label: string): string {
    if (!existsSync(path.join(CGROUP_ROOT, 'cgroup.procs'))) throw new Error(`no cgroup v2 at ${CGROUP_ROOT}`);
    const dir = path.join(CGROUP_ROOT, `${PREFIX}${this.tag}-${label}`);
    mkdirSync(dir);
    this.cgroups.push(dir);
    this.defer(`cgroup ${dir}`, async () => {
      // rmdir fails while a process is still inside; processes were stopped before this runs.
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(dir);
          return;
        } catch {
          await sleep(50);
        }
      }
      rmdirSync(dir);
    });
    return dir;
  }

  /** A fresh directory of ours in bpffs (mounting bpffs when absent). */
  pinDir(label: string): string {
    if (!existsSync(BPFFS)) mkdirSync(BPFFS, { recursive: true });
    if (!isBpffs(BPFFS)) mountBpffs(BPFFS);
    const dir = path.join(BPFFS, `${PREFIX}${this.tag}-${label}`);
    mkdirSync(dir);
    this.defer(`pins ${dir}`, () => removePins(dir));
    return dir;
  }

  /** Starts argv in the namespace and cgroup (joining the cgroup first: `ip netns exec` remounts /sys). */
  spawn(where: Placement, argv: string[], label = path.basename(argv[0]!)): Proc {
    const rt = where.realtime ? ['chrt', '-f', String(RT_PRIORITY)] : [];
    const inner = where.cpus !== undefined ? ['taskset', '-c', where.cpus, ...rt, ...argv] : [...rt, ...argv];
    const child = spawn('sh', ['-c', 'echo $$ > "$1/cgroup.procs" && shift && exec ip netns exec "$@"', 'sh', where.cgroup, where.netns, ...inner], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new Proc(child, label);
    this.procs.push(proc);
    return proc;
  }

  /** Starts argv in the bench's own namespace and cgroup (for the agent, which needs the host's /sys). */
  spawnHost(argv: string[], label = path.basename(argv[0]!)): Proc {
    const proc = new Proc(spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }), label);
    this.procs.push(proc);
    return proc;
  }

  /** Runs argv to completion in the namespace and cgroup; returns stdout. */
  async exec(where: Placement, argv: string[], ms = 600_000): Promise<string> {
    const proc = this.spawn(where, argv);
    return proc.done(ms);
  }

  /** Stops every process, then runs the cleanups in reverse; collects (and reports) failures. */
  async close(): Promise<string[]> {
    const problems: string[] = [];
    await Promise.all(this.procs.map((p) => p.stop().catch((e: Error) => problems.push(`stop ${p.label}: ${e.message}`))));
    for (const step of this.cleanups.reverse()) {
      try {
        await step.fn();
      } catch (error) {
        problems.push(`${step.what}: ${(error as Error).message}`);
      }
    }
    this.cleanups.length = 0;
    return problems;
  }
}

/** Removes a pin directory of the bench's (refuses any other path). */
export function removePins(dir: string): void {
  if (!dir.startsWith(`${BPFFS}/${PREFIX}`)) throw new Error(`refusing to remove ${dir}: not a meshc-bench pin directory`);
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

/** CPU time (ns, all threads, from /proc/<pid>/task/<tid>/schedstat) and memory of a process. */
export function processUsage(pid: number): { cpuNs: number; rssKiB: number; hwmKiB: number } {
  let cpuNs = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      cpuNs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited meanwhile
    }
  }
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { cpuNs, rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}
