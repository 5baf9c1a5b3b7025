// The agent's node proxy hook: runs the HAProxy supervisor beside the kernel tables and steers
// the L7 Service ports to it through the tables alone.
//
// Per sync: the compile asks steer() for each frontend with producer routes; an L7 one (its
// routes need the HTTP request, proxy/serving.ts) gets the node address and its listener's port,
// and its service row points there (tables/compile.ts `proxy`). Then serve() applies the same
// tables to HAProxy before the agent writes the maps, so a steered connect() finds the listener
// up. When HAProxy cannot serve (missing binary, a failed start), serve() says false, logs why
// once, and the agent compiles again without steering: those ports are decided in the kernel on
// their catch-all rules, as before, and every other Service is untouched either way.
//
// HAProxy runs as the agent's child: outside the routed cgroup when the agent is (and it dials
// pod addresses, never ClusterIPs, so the hooks would pass its connections through anyway).
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Model } from '../model/types.ts';
import type { CompiledTables, FrontendInfo, ProxyTarget } from '../tables/compile.ts';
import { ProxySupervisor, ProxyUnavailableError } from '../proxy/supervisor.ts';
import { frontendServing } from '../proxy/serving.ts';
import { sectionName } from '../proxy/config-words.ts';

export interface NodeProxyOptions {
  /** `--proxy-bin` (default `haproxy` from PATH). */
  bin?: string;
  /** `--node-ip`; default: the Node object's InternalIP, else the host's first non-loopback address. */
  nodeIp?: string;
  /** This node's name (its Node object gives the InternalIP). */
  node?: string;
  log: (line: string) => void;
  /** Delay before a dead HAProxy is started again (default 1 s). */
  restartDelayMs?: number;
  /** A command HAProxy runs under (ProxySupervisorOptions.prefix). */
  prefix?: string[];
}

/** The host's first non-loopback IPv4 address (else IPv6), by interface name order. */
export function firstHostAddress(interfaces = networkInterfaces()): string | undefined {
  const all = Object.keys(interfaces).sort().flatMap((name) => interfaces[name] ?? []).filter((a) => !a.internal);
  return (all.find((a) => a.family === 'IPv4') ?? all.find((a) => a.family === 'IPv6' && !a.address.startsWith('fe80')))?.address;
}

export class NodeProxy {
  private supervisor: ProxySupervisor | undefined;
  private dir: string | undefined;
  private address: string | undefined;
  private addressSource = '';
  /** Why L7 ports are not served by the proxy right now (logged when it changes). */
  private problem: string | undefined;
  private reported = new Set<string>();
  private disabled = false;
  /** Frontends the current compile steered to the proxy. */
  private steered = 0;

  constructor(private readonly options: NodeProxyOptions) {}

  /** The compile's `proxy` option for this sync (undefined: steer nothing). */
  steering(model: Model): ((frontend: FrontendInfo) => ProxyTarget | undefined) | undefined {
    this.steered = 0;
    if (this.disabled) return undefined;
    const address = this.nodeAddress(model);
    if (!address) {
      this.setProblem('no node address for the node proxy (no --node-ip, no InternalIP on the Node object, no non-loopback address on the host)');
      return undefined;
    }
    if (address !== this.address) this.use(address);
    const supervisor = this.supervisor!;
    return (frontend) => {
      if (frontend.protocol !== 'TCP' || frontendServing(frontend).producer.layer !== 'L7') return undefined;
      const name = sectionName(frontend.service.meta.namespace, frontend.service.meta.name, String(frontend.port.port));
      this.steered++;
      return { address, port: supervisor.listenerPort(name) };
    };
  }

  /**
   * Serves `tables` (compiled with steering()) on HAProxy. False when it cannot and a frontend
   * was steered to it: the caller compiles again without steering, so those ports stay in the
   * kernel on their catch-all rules.
   */
  async serve(tables: CompiledTables): Promise<boolean> {
    if (!this.supervisor) return true;
    if (this.steered === 0) {
      // Nothing is steered to the proxy (any more): stop it once the maps no longer steer to it.
      // The agent writes them synchronously after this returns, so a timer runs after.
      const supervisor = this.supervisor;
      if (supervisor.running) {
        setTimeout(() => {
          supervisor.stop().then(() => this.options.log('agent: node proxy: stopped (no Service port is steered to it)'), (error: Error) => this.options.log(`agent: node proxy: ${error.message}`));
        }, 0);
      }
      return true;
    }
    try {
      const result = await this.supervisor.apply(tables);
      const listeners = result.plan.listeners.length;
      if (result.action !== 'unchanged') {
        const how = result.action === 'runtime' ? `${result.commands} runtime API commands, no reload` : result.action;
        this.options.log(`agent: node proxy: ${how} in ${result.ms} ms (${listeners} L7 listeners on ${this.address}, HAProxy ${this.supervisor.bin})`);
      }
      const now = new Set(result.reports);
      for (const line of now) if (!this.reported.has(line)) this.options.log(`agent: node proxy: ${line}`);
      this.reported = now;
      this.setProblem(undefined);
      return true;
    } catch (error) {
      const message = (error as Error).message;
      this.setProblem(error instanceof ProxyUnavailableError ? message : `node proxy: ${message.replace(/^node proxy: /, '')}; L7 routes are decided in the kernel on their catch-all rules until it works`);
      return this.steered === 0;
    }
  }

  /** Why the L7 ports are not served by the proxy now, for the serving log; undefined when they are. */
  get notServing(): string | undefined {
    return this.problem;
  }

  /** HAProxy's master process, while it runs. */
  get masterPid(): number | undefined {
    return this.supervisor?.masterPid;
  }

  /** Steer nothing from now on (the agent is stopping: its last sync puts the L7 ports back in the kernel). */
  disable(): void {
    this.disabled = true;
    this.problem = 'the agent is stopping: the node proxy stops with it';
  }

  /** Stops HAProxy and removes its directory. */
  async stop(): Promise<void> {
    await this.supervisor?.stop();
    this.supervisor = undefined;
    this.address = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  private nodeAddress(model: Model): string | undefined {
    if (this.options.nodeIp) {
      this.addressSource = '--node-ip';
      return this.options.nodeIp;
    }
    const internal = this.options.node === undefined ? undefined : model.nodes.get(this.options.node)?.internalIP;
    if (internal) {
      this.addressSource = `Node ${this.options.node}'s InternalIP`;
      return internal;
    }
    this.addressSource = "the host's first non-loopback address";
    return firstHostAddress();
  }

  /** A supervisor bound to `address` (the previous one, on another address, is stopped first). */
  private use(address: string): void {
    const old = this.supervisor;
    if (old) void old.stop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = mkdtempSync(join(tmpdir(), 'meshc-proxy-'));
    this.address = address;
    this.supervisor = new ProxySupervisor({
      bin: this.options.bin,
      dir: this.dir,
      bindAddress: address,
      log: (line) => this.options.log(`agent: ${line}`),
      restartDelayMs: this.options.restartDelayMs,
      prefix: this.options.prefix,
    });
    this.options.log(`agent: node proxy: L7 listeners on ${address} (${this.addressSource}), HAProxy ${this.supervisor.bin}, files in ${this.dir}`);
  }

  private setProblem(problem: string | undefined): void {
    if (problem && problem !== this.problem) this.options.log(`agent: ${problem}`);
    if (!problem && this.problem) this.options.log('agent: node proxy: serving again');
    this.problem = problem;
  }
}
