// The node proxy's owner: runs HAProxy in master-worker mode, writes its configuration (the third
// sink of the compiled tables) and keeps it current without losing a request.
//
// - Configuration files are written whole to a temporary file, checked with `haproxy -c`, then
//   renamed over haproxy.cfg: the master never reads a half-written or invalid file.
// - A change of routes, rules, precedence, listeners or slot counts is a seamless reload
//   (SIGUSR2 to the master: the new worker takes the listening sockets from the old one, which
//   finishes its requests). Endpoint and health changes are runtime API commands on the current
//   worker (set server addr / state on pre-allocated slots, slots.ts), and so are backendRef
//   weight changes (set var on the weighted picks' process variables), with no reload; the file
//   is still rewritten, so a restart starts from the current state.
// - If the master dies, it is started again after a delay; L4 routing never depends on it.
// - A missing binary is a ProxyUnavailableError naming the path and the fix: the agent logs it
//   and goes on with L4 routing.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { CompiledTables } from '../tables/compile.ts';
import { planProxy, type ProxyPlan } from './plan.ts';
import { DEFAULT_FIRST_PORT, DEFAULT_LAST_PORT, assignListenerPorts } from './ports.ts';
import { haproxyConfig } from './haproxy-config.ts';
import { assignSlots, sameShape, slotCommands, type SlotTable } from './slots.ts';
import { cliCommand, parseShowProc, workerCommands } from './runtime-api.ts';

export class ProxyUnavailableError extends Error {
  constructor(bin: string, detail: string) {
    super(`node proxy: cannot run HAProxy at ${JSON.stringify(bin)} (${detail}); install the haproxy package or pass --proxy-bin PATH. L7 routes are not served; L4 routing goes on`);
    this.name = 'ProxyUnavailableError';
  }
}

export interface ProxySupervisorOptions {
  /** The unix datagram socket HAProxy logs each request to (haproxy-config.ts accessLog). */
  accessLog?: string;
  /** The haproxy binary (`--proxy-bin`); default `haproxy` from PATH. */
  bin?: string;
  /** A directory of the supervisor's own: haproxy.cfg, the master CLI and worker sockets. */
  dir: string;
  /** The node address the listeners bind. */
  bindAddress: string;
  log?: (line: string) => void;
  /** Delay before the master is started again after it died (default 1 s). */
  restartDelayMs?: number;
  /** How long a reload may take before it counts as failed (default 10 s). */
  reloadTimeoutMs?: number;
  /**
   * A command HAProxy runs under, which execs it (the same pid): `nsenter --net=...` to run it
   * in another network namespace (meshc demo).
   */
  prefix?: string[];
}

export interface ApplyResult {
  /** What was done: nothing changed, endpoints changed at run time, a reload, or the first start. */
  action: 'unchanged' | 'runtime' | 'reload' | 'start' | 'stop';
  /** Runtime API commands sent (for 'runtime'). */
  commands: number;
  /** Time until the change was serving, in milliseconds. */
  ms: number;
  plan: ProxyPlan;
  /** What the configuration does not apply as the routes say (from the config compiler). */
  reports: string[];
}

export interface ProxyStats {
  starts: number;
  reloads: number;
  runtimeChanges: number;
  runtimeCommands: number;
  restarts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `text` to `file` through a temporary file in the same directory and a rename. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** `set var` commands for the weighted picks' variables whose values changed (same names: same shape). */
export function weightCommands(from: ReadonlyMap<string, number>, to: ReadonlyMap<string, number>): string[] {
  return [...to].filter(([name, value]) => from.get(name) !== value).map(([name, value]) => `set var ${name} int(${value})`);
}

export class ProxySupervisor {
  readonly bin: string;
  readonly configFile: string;
  readonly masterSocket: string;
  readonly workerSocket: string;
  readonly stats: ProxyStats = { starts: 0, reloads: 0, runtimeChanges: 0, runtimeCommands: 0, restarts: 0 };
  private readonly log: (line: string) => void;
  private child: ChildProcess | undefined;
  private stopping = false;
  private ports = new Map<string, number>();
  /** Ports promised to listeners before they are served (listenerPort), kept by the next apply. */
  private reserved = new Map<string, number>();
  private slots: SlotTable = new Map();
  private shape: string | undefined;
  private weights = new Map<string, number>();
  private text: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stderrTail = '';
  /** The current worker's pid, known after a start or a reload. */
  private worker: number | undefined;
  private binChecked = false;

  constructor(private readonly options: ProxySupervisorOptions) {
    this.bin = options.bin ?? 'haproxy';
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    this.configFile = path.join(options.dir, 'haproxy.cfg');
    this.masterSocket = path.join(options.dir, 'master.sock');
    this.workerSocket = path.join(options.dir, 'worker.sock');
    this.log = options.log ?? (() => undefined);
  }

  /** Why the binary cannot be used, or undefined when `haproxy -v` runs. */
  static problem(bin: string): string | undefined {
    const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
    if (r.error) return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : r.error.message;
    if (r.status !== 0) return `\`${bin} -v\` exited with status ${r.status}`;
    return undefined;
  }

  /**
   * The port of listener `name`: the one it is served on, or one promised to it now and kept by
   * the next apply (the agent steers connect() to it in the same sync, before the apply).
   */
  listenerPort(name: string): number {
    const known = this.ports.get(name) ?? this.reserved.get(name);
    if (known !== undefined) return known;
    const taken = new Set([...this.ports.values(), ...this.reserved.values()]);
    const [port] = assignListenerPorts([name], new Map(), this.range(taken));
    this.reserved.set(name, port![1]);
    return port![1];
  }

  /** The listener port range without the ports in `taken` (only the lowest free one matters). */
  private range(taken: ReadonlySet<number>): { first: number; last: number } {
    let first = DEFAULT_FIRST_PORT;
    while (taken.has(first)) first++;
    return { first, last: DEFAULT_LAST_PORT };
  }

  /** Listener ports by listener name, as last applied. */
  get listenerPorts(): ReadonlyMap<string, number> {
    return this.ports;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null;
  }

  /** Serves the L7 Service ports of `tables`; changes are applied one at a time, in order. */
  apply(tables: CompiledTables): Promise<ApplyResult> {
    const next = this.queue.then(() => this.applyNow(tables));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async applyNow(tables: CompiledTables): Promise<ApplyResult> {
    const started = Date.now();
    const plan = planProxy(tables);
    const result = (action: ApplyResult['action'], commands: number, reports: string[]): ApplyResult =>
      ({ action, commands, ms: Date.now() - started, plan, reports });
    if (plan.listeners.length === 0) {
      // HAProxy will not run without a proxy section; nothing is L7, so nothing needs it.
      if (this.child) {
        await this.stop();
        this.shape = undefined;
        this.text = undefined;
        return result('stop', 0, plan.reports);
      }
      return result('unchanged', 0, plan.reports);
    }
    if (!this.binChecked) {
      const problem = ProxySupervisor.problem(this.bin);
      if (problem) throw new ProxyUnavailableError(this.bin, problem);
      this.binChecked = true;
    }
    const ports = assignListenerPorts(plan.listeners.map((l) => l.name), new Map([...this.reserved, ...this.ports]));
    const slots = assignSlots(plan.pools, this.slots);
    const base = { bindAddress: this.options.bindAddress, ports, statsSocket: this.workerSocket, slots, accessLog: this.options.accessLog };
    const shape = haproxyConfig(plan, { ...base, shapeOnly: true }).text;
    const config = haproxyConfig(plan, base);
    if (config.text === this.text && this.running) return result('unchanged', 0, config.reports);
    const runtimeOnly = this.running && this.worker !== undefined && shape === this.shape && sameShape(this.slots, slots);
    // A runtime change keeps the checked shape (only slot addresses differ): no `haproxy -c`.
    if (!runtimeOnly) this.check(config.text);
    const commands = runtimeOnly ? [...slotCommands(this.slots, slots), ...weightCommands(this.weights, config.weights)] : [];
    writeFileAtomic(this.configFile, config.text);
    let action: ApplyResult['action'];
    if (runtimeOnly) {
      const problems = await workerCommands(this.masterSocket, this.worker!, commands);
      if (problems.length > 0) throw new Error(`node proxy: runtime API: ${problems.slice(0, 3).join('; ')}`);
      this.stats.runtimeChanges++;
      this.stats.runtimeCommands += commands.length;
      action = 'runtime';
    } else if (this.running) {
      await this.reload();
      action = 'reload';
    } else {
      await this.start();
      action = 'start';
    }
    this.ports = ports;
    this.reserved.clear();
    this.slots = slots;
    this.shape = shape;
    this.text = config.text;
    this.weights = config.weights;
    return result(action, commands.length, config.reports);
  }

  /** `haproxy -c` on the text, through a file beside the configuration. */
  private check(text: string): void {
    const file = `${this.configFile}.check`;
    writeFileAtomic(file, text);
    try {
      const r = spawnSync(this.bin, ['-c', '-q', '-f', file], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`node proxy: HAProxy rejects the generated configuration (a meshc bug): ${`${r.stdout}${r.stderr}`.trim().split('\n').slice(-3).join(' | ')}`);
    } finally {
      rmSync(file, { force: true });
    }
  }

  private async showProc(): Promise<ReturnType<typeof parseShowProc>> {
    return parseShowProc(await cliCommand(this.masterSocket, 'show proc'));
  }

  /** Waits until a worker other than those in `old` runs and answers its runtime API. */
  private async waitForWorker(old: readonly number[], deadline: number): Promise<number> {
    for (;;) {
      if (!this.running) throw new Error(`node proxy: HAProxy exited: ${this.stderrTail.trim().split('\n').slice(-3).join(' | ')}`);
      try {
        const { workers } = await this.showProc();
        const fresh = workers.find((w) => !old.includes(w));
        if (fresh !== undefined) {
          const info = await cliCommand(this.masterSocket, `@!${fresh} show info`);
          if (info.includes('Pid:')) {
            this.worker = fresh;
            return fresh;
          }
        }
      } catch {
        // the master CLI is not up yet
      }
      if (Date.now() > deadline) throw new Error(`node proxy: no new HAProxy worker within ${this.options.reloadTimeoutMs ?? 10_000} ms`);
      await sleep(20);
    }
  }

  private async start(): Promise<void> {
    rmSync(this.masterSocket, { force: true });
    const [command, ...args] = [...(this.options.prefix ?? []), this.bin, '-W', '-db', '-S', `${this.masterSocket},mode,600`, '-f', this.configFile];
    const child = spawn(command!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.stderrTail = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-4096);
      for (const line of d.split('\n')) if (line.trim()) this.log(`haproxy: ${line.trim()}`);
    });
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.worker = undefined;
      if (this.stopping) return;
      this.log(`node proxy: HAProxy exited (${signal ?? `status ${code}`}); starting it again in ${this.options.restartDelayMs ?? 1000} ms`);
      setTimeout(() => {
        if (this.stopping || this.child) return;
        this.stats.restarts++;
        this.start().catch((error: Error) => this.log(error.message));
      }, this.options.restartDelayMs ?? 1000).unref();
    });
    this.stats.starts++;
    await this.waitForWorker([], Date.now() + (this.options.reloadTimeoutMs ?? 10_000));
  }

  private async reload(): Promise<void> {
    const before = await this.showProc();
    this.child!.kill('SIGUSR2');
    await this.waitForWorker(before.workers, Date.now() + (this.options.reloadTimeoutMs ?? 10_000));
    this.stats.reloads++;
  }

  /** The master's pid (for tests that kill it), or undefined when it is not running. */
  get masterPid(): number | undefined {
    return this.running ? this.child!.pid : undefined;
  }

  /** Stops HAProxy (workers finish nothing: SIGTERM is a hard stop) and waits for it. */
  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    this.worker = undefined;
    this.stopping = false;
  }
}
