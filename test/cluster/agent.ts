// One `meshc agent` per node of the test cluster, as the DaemonSet runs it: in-cluster style
// (a kubeconfig holding the meshc-agent ServiceAccount's token, so the real authorizer decides),
// `--node`, the node's cgroup (its pods' cgroups are below it), pins of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { makePinDir, removePinDir } from '../kernel/env.ts';
import { MESHC_BIN, ROOT, runMeshc } from '../helpers/meshc.ts';

/** bin/meshc.js under tsx's loader, as from a checkout. */
export const CHECKOUT_CLI = [process.execPath, MESHC_BIN];

export class NodeAgent {
  readonly log: string[] = [];
  /** When each line of `log` came (performance.now()). */
  readonly logTimes: number[] = [];
  /** When the agent was last started (performance.now()). */
  startedAt = 0;
  readonly pin: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  metricsPort = 0;

  constructor(
    readonly node: string,
    readonly cgroup: string,
    private kubeconfig: string,
    /** How to run meshc: the checkout's bin/meshc.js (default), or the image's bundle under plain node. */
    private readonly cli: string[] = CHECKOUT_CLI,
  ) {
    this.pin = makePinDir(`cluster-${node}`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the agent; resolves once it logs `ready` (by default: it watches the API server). */
  async start(options: { kubeconfig?: string; ready?: RegExp; timeoutMs?: number } = {}): Promise<void> {
    if (options.kubeconfig) this.kubeconfig = options.kubeconfig;
    const [command, ...prefix] = this.cli;
    const argv = [...prefix, 'agent', '--kubeconfig', this.kubeconfig, '--cgroup', this.cgroup, '--pin', this.pin, '--node', this.node, '--metrics-port', '0'];
    this.startedAt = performance.now();
    const child = spawn(command!, argv, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const mark = this.log.length;
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.log.push(line);
      this.logTimes.push(performance.now());
      const port = /metrics on [\d.]*:(\d+)/.exec(line);
      if (port) this.metricsPort = Number(port[1]);
    });
    // Loading the BPF object (the verifier) takes most of it; three agents at once on a loaded 2-core machine took over 60 s.
    await this.waitForLog(options.ready ?? /agent: watching the API server/, mark, options.timeoutMs ?? 120000);
  }

  /** Waits until the agent logs a line matching `pattern` after line `since`; returns it. */
  async waitForLog(pattern: RegExp, since = 0, timeoutMs = 15000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.log.slice(since).find((l) => pattern.test(l));
      if (hit) return hit;
      if (this.child?.exitCode !== null || Date.now() > deadline) {
        throw new Error(`agent ${this.node}: ${this.child?.exitCode !== null ? `exited (${this.child?.exitCode})` : `no line matching ${pattern} in ${timeoutMs} ms`}; log:\n${this.log.slice(-30).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** /metrics text and /readyz status. */
  async scrape(): Promise<{ metrics: string; ready: number; readyBody: string }> {
    const metrics = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
    const readyz = await fetch(`http://127.0.0.1:${this.metricsPort}/readyz`);
    return { metrics, ready: readyz.status, readyBody: await readyz.text() };
  }

  /** `meshc inspect --json` of this node's maps. */
  inspect(): any {
    const r = runMeshc(['inspect', '--pin', this.pin, '--json']);
    if (r.status !== 0) throw new Error(`meshc inspect --pin ${this.pin}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout);
  }

  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Stops the agent (SIGTERM: its hooks stay pinned, routing goes on). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Stops the agent, detaches its hooks and removes its pins. */
  async dispose(): Promise<void> {
    await this.stop();
    runMeshc(['agent', '--detach', '--pin', this.pin]);
    removePinDir(this.pin);
  }
}
