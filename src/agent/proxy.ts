// The agent's node proxy hook: runs the HAProxy supervisor beside the kernel tables and steers
// the L7 Service ports to it through the tables alone.
//
// Per sync: the compile asks the callbacks of compileOptions() about each frontend with routes; an L7 one (its
// routes need the HTTP request, proxy/serving.ts) gets the node address and its listener's port,
// and its service row points there (tables/compile.ts `proxy`). Then serve() applies the same
// tables to HAProxy before the agent writes the maps, so a steered connect() finds the listener
// up. When HAProxy cannot serve (missing binary, a failed start), serve() says false, logs why
// once, and the agent compiles again without steering: those ports are decided in the kernel on
// their catch-all rules, as before, and every other Service is untouched either way.
//
// HAProxy runs as the agent's child: outside the routed cgroup when the agent is (and it dials
// pod addresses, never ClusterIPs, so the hooks would pass its connections through anyway).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Model } from '../model/types.ts';
import type { CompileOptions, CompiledTables, FrontendInfo, ProxyTarget } from '../tables/compile.ts';
import type { BpfObject } from '../loader/index.ts';
import { addressWords, decode, encode, hex, netPort } from '../tables/codec.ts';
import { McConsumerKey, McConsumerValue } from '../generated/glue.ts';
import { ServiceKey } from '../generated/layouts.ts';
import { cgroupKey, skippedCgroupIds } from './skip.ts';
import { ProxySupervisor, ProxyUnavailableError } from '../proxy/supervisor.ts';
import { frontendServing } from '../proxy/serving.ts';
import { planProxy } from '../proxy/plan.ts';
import { sectionName } from '../proxy/config-words.ts';

export interface NodeProxyOptions {
  /** `--proxy-bin` (default `haproxy` from PATH). */
  bin?: string;
  /** `--node-ip`; default: the Node object's InternalIP, else the host's first non-loopback address. */
  nodeIp?: string;
  /** This node's name (its Node object gives the InternalIP). */
  node?: string;
  /** The routed cgroup: consumer-route clients are found below it by their pods' UIDs. */
  cgroup?: string;
  log: (line: string) => void;
  /** Delay before a dead HAProxy is started again (default 1 s). */
  restartDelayMs?: number;
  /** A command HAProxy runs under (ProxySupervisorOptions.prefix). */
  prefix?: string[];
  /** Opens the unix datagram socket HAProxy logs each request to, in the proxy's directory (src/observe reads it). */
  accessLog?: (dir: string) => string | undefined;
}

/** The host's first non-loopback IPv4 address (else IPv6), by interface name order. */
export function firstHostAddress(interfaces = networkInterfaces()): string | undefined {
  const all = Object.keys(interfaces).sort().flatMap((name) => interfaces[name] ?? []).filter((a) => !a.internal);
  return (all.find((a) => a.family === 'IPv4') ?? all.find((a) => a.family === 'IPv6' && !a.address.startsWith('fe80')))?.address;
}

/** `setpriv --pdeathsig KILL` when setpriv (util-linux) is there. */
const DIES_WITH_AGENT = spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0 ? ['setpriv', '--pdeathsig', 'KILL'] : undefined;

export class NodeProxy {
  private supervisor: ProxySupervisor | undefined;
  private dir: string | undefined;
  private address: string | undefined;
  private addressSource = '';
  /** Why L7 ports are not served by the proxy right now (logged when it changes). */
  private problem: string | undefined;
  private reported = new Set<string>();
  private disabled = false;
  /** Frontends (and consumer namespaces) the current compile steered to the proxy. */
  private steered = 0;
  private obj: BpfObject | undefined;
  /** Namespace ids of mc_client_ns and mc_consumer, stable while the agent runs. */
  private readonly namespaces = new Map<string, number>();
  private consumerRows = new Map<string, Uint8Array>();
  /** Pod UIDs of the consumer namespaces, by namespace. */
  private clientUids = new Map<string, Set<string>>();
  private clients = new Map<bigint, number>();

  constructor(private readonly options: NodeProxyOptions) {}

  /**
   * The compile's `proxy` and `consumerProxy` options for this sync (none: steer nothing). The
   * supervisor (and the node address) is set up at the first L7 frontend, so an agent whose
   * routes are all L4 runs and says nothing about a proxy.
   */
  compileOptions(model: Model): Pick<CompileOptions, 'proxy' | 'consumerProxy'> {
    this.steered = 0;
    if (this.disabled) return {};
    let address: string | undefined | null = null;
    const target = (name: string): ProxyTarget | undefined => {
      if (address === null) {
        address = this.nodeAddress(model);
        if (!address) this.setProblem('no node address for the node proxy (no --node-ip, no InternalIP on the Node object, no non-loopback address on the host)');
        else if (address !== this.address) this.use(address);
      }
      if (!address) return undefined;
      this.steered++;
      return { address, port: this.supervisor!.listenerPort(name) };
    };
    const base = (f: FrontendInfo) => [f.service.meta.namespace, f.service.meta.name, String(f.port.port)] as const;
    return {
      proxy: (frontend) => (frontend.protocol === 'TCP' && frontendServing(frontend).producer.layer === 'L7' ? target(sectionName(...base(frontend))) : undefined),
      consumerProxy: (frontend, namespace) =>
        (frontend.protocol === 'TCP' && frontendServing(frontend).consumers.has(namespace) ? target(sectionName(...base(frontend), 'from', namespace)) : undefined),
    };
  }

  /**
   * Serves `tables` (compiled with compileOptions()) on HAProxy. False when it cannot and a frontend
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
    const supervisor = this.supervisor;
    // Listeners only go away: the reload that closes them waits until the maps no longer steer
    // to them (a connect() in between would be refused); new listeners must be up before.
    const served = supervisor.listenerPorts;
    const names = planProxy(tables).listeners.map((l) => l.name);
    if (supervisor.running && names.every((n) => served.has(n)) && names.length < served.size) {
      setTimeout(() => void this.applyNow(supervisor, tables).catch((error: Error) => this.setProblem(`node proxy: ${error.message.replace(/^node proxy: /, '')}`)), 0);
      return true;
    }
    try {
      await this.applyNow(supervisor, tables);
      return true;
    } catch (error) {
      const message = (error as Error).message;
      this.setProblem(error instanceof ProxyUnavailableError ? message : `node proxy: ${message.replace(/^node proxy: /, '')}; L7 routes are decided in the kernel on their catch-all rules until it works`);
      return this.steered === 0;
    }
  }

  /**
   * After the maps are written: the glue's consumer maps. mc_consumer gets each consumer-route
   * listener of `tables` by (frontend, namespace id); mc_client_ns the cgroups of the pods of
   * those namespaces (found below the routed cgroup by pod UID, and every cgroup below them).
   */
  writeConsumers(obj: BpfObject, model: Model, tables: CompiledTables): void {
    if (!obj.maps().some((m) => m.name === 'mc_consumer')) return;
    this.obj = obj;
    const rows = new Map<string, [Uint8Array, Uint8Array]>();
    const namespaces = new Set<string>();
    for (const f of tables.frontends) {
      for (const c of f.consumers ?? []) {
        namespaces.add(c.namespace);
        const key = encode(McConsumerKey, { svc: decode(ServiceKey, f.keyBytes), ns: this.namespaceId(c.namespace) });
        const value = encode(McConsumerValue, { addr: addressWords(c.address).addr, port: netPort(c.port), pad: 0, svc_id: f.id, backend_id: c.backend });
        rows.set(hex(key), [key, value]);
      }
    }
    const map = obj.map('mc_consumer');
    map.updateBatch([...rows.values()]);
    map.deleteBatch([...this.consumerRows.keys()].filter((k) => !rows.has(k)).map((k) => this.consumerRows.get(k)!));
    this.consumerRows = new Map([...rows].map(([k, [key]]) => [k, key]));
    this.clientUids = new Map();
    for (const pod of model.pods.values()) {
      if (!namespaces.has(pod.meta.namespace) || !pod.meta.uid) continue;
      const uids = this.clientUids.get(pod.meta.namespace) ?? new Set<string>();
      uids.add(pod.meta.uid.toLowerCase());
      this.clientUids.set(pod.meta.namespace, uids);
    }
    this.refreshClients();
  }

  /** Writes mc_client_ns from the consumer namespaces' pod cgroups as they are now (containers come and go). */
  refreshClients(): void {
    if (!this.obj || !this.options.cgroup) return;
    const next = new Map<bigint, number>();
    for (const [namespace, uids] of this.clientUids) {
      for (const id of skippedCgroupIds(this.options.cgroup, uids)) next.set(id, this.namespaceId(namespace));
    }
    const map = this.obj.map('mc_client_ns');
    const changed = [...next].filter(([id, ns]) => this.clients.get(id) !== ns);
    map.updateBatch(changed.map(([id, ns]) => [cgroupKey(id), u32(ns)] as const));
    map.deleteBatch([...this.clients.keys()].filter((id) => !next.has(id)).map(cgroupKey));
    this.clients = next;
  }

  private namespaceId(namespace: string): number {
    let id = this.namespaces.get(namespace);
    if (id === undefined) this.namespaces.set(namespace, (id = this.namespaces.size + 1));
    return id;
  }

  private async applyNow(supervisor: ProxySupervisor, tables: CompiledTables): Promise<void> {
    const result = await supervisor.apply(tables);
    if (result.action !== 'unchanged') {
      const how = result.action === 'runtime' ? `${result.commands} runtime API commands, no reload` : result.action;
      this.options.log(`agent: node proxy: ${how} in ${result.ms} ms (${result.plan.listeners.length} L7 listeners on ${this.address}, HAProxy ${supervisor.bin})`);
    }
    const now = new Set(result.reports);
    for (const line of now) if (!this.reported.has(line)) this.options.log(`agent: node proxy: ${line}`);
    this.reported = now;
    this.setProblem(undefined);
  }

  /** Why the L7 ports are not served by the proxy now, for the serving log; undefined when they are. */
  get notServing(): string | undefined {
    return this.problem;
  }

  /** The running worker's runtime API socket (`show info` has its DroppedLogs), while HAProxy runs. */
  get statsSocket(): string | undefined {
    return this.supervisor?.running ? this.supervisor.workerSocket : undefined;
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
      accessLog: this.options.accessLog?.(this.dir),
      // HAProxy dies with the agent (SIGKILL to its master, whose workers follow): a killed agent
      // leaves no proxy serving an old configuration beside the next agent's (SO_REUSEPORT).
      prefix: [...(this.options.prefix ?? []), ...(DIES_WITH_AGENT ?? [])],
    });
    this.options.log(`agent: node proxy: L7 listeners on ${address} (${this.addressSource}), HAProxy ${this.supervisor.bin}, files in ${this.dir}`);
  }

  private setProblem(problem: string | undefined): void {
    if (problem && problem !== this.problem) this.options.log(`agent: ${problem}`);
    if (!problem && this.problem) this.options.log('agent: node proxy: serving again');
    this.problem = problem;
  }
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}
