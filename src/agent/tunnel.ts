// The node tunnel run by the agent (`meshc agent --ca-url ... --tunnel`, docs/tunnel.md): the
// steering object (bpf/tunnel.bpf.c) attached to the routed cgroup after meshc's own programs,
// mc_tun_dests and the tunnel's configuration written from the model (which pods require
// authentication, by whom), the SVIDs the agent holds handed over through the adapter
// (src/tunnel/from-identity.ts), and bin/meshc-tunnel.js run as a supervised child.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { IdentitySource } from '../identity/store.ts';
import { serviceAccountSpiffeId } from '../identity/spiffe.ts';
import { openPinnedLink, type BpfLink } from '../loader/index.ts';
import { selects } from '../model/netpol-selector.ts';
import { policyName, type NetworkPolicy } from '../model/netpol-types.ts';
import type { Model, PodInfo } from '../model/types.ts';
import { followIdentities, writeCredentialFiles } from '../tunnel/from-identity.ts';
import { buildTunnelObject, TUNNEL_PROGRAM, TunnelSteering } from '../tunnel/steering.ts';
import { removeTunnelStatus, writeTunnelStatus } from '../tunnel/status.ts';
import type { TunnelEvent } from '../tunnel/tunnel.ts';
import { podCgroups } from './skip.ts';

export const TUNNEL_BIN = fileURLToPath(new URL('../../bin/meshc-tunnel.js', import.meta.url));
/** `setpriv --pdeathsig KILL` when setpriv (util-linux) is there: the tunnel dies with the agent (as the node proxy). */
const DIES_WITH_AGENT = spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0 ? ['setpriv', '--pdeathsig', 'KILL'] : [];
export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15008;

/** A pod whose ingress policy requires authentication. */
export interface RequiredPod {
  addr: string;
  /** `namespace/name`. */
  pod: string;
  uid?: string;
  nodeName?: string;
  identity: string;
  /** The identities of the pods its authenticated rules' peers select (sorted). */
  allowed: string[];
  /** The policies that require it. */
  policies: string[];
}

export interface TunnelPlan {
  /** Key: pod IPv4 address. */
  required: Map<string, RequiredPod>;
  /** What the plan could not honour, located (logged by the agent). */
  notes: string[];
}

function podIdentity(pod: PodInfo, trustDomain: string): string {
  return serviceAccountSpiffeId(trustDomain, pod.meta.namespace, pod.serviceAccount ?? 'default');
}

/** Whether `policy`'s peer `peer` selects `pod` (namespaces by their labels, or the policy's own). */
function peerSelects(model: Model, policy: NetworkPolicy, peer: { pods: Parameters<typeof selects>[0]; namespaces?: Parameters<typeof selects>[0] }, pod: PodInfo): boolean {
  if (peer.namespaces) {
    const ns = model.namespaces.get(pod.meta.namespace);
    const labels = { 'kubernetes.io/metadata.name': pod.meta.namespace, ...(ns?.labels ?? {}) };
    if (!selects(peer.namespaces, labels)) return false;
  } else if (pod.meta.namespace !== policy.meta.namespace) return false;
  return selects(peer.pods, pod.meta.labels);
}

/**
 * Which pods require authentication and by whom: every pod selected by a CiliumNetworkPolicy with
 * an ingress rule with `authentication.mode: required`, its allowed identities being the
 * ServiceAccounts of the pods that policy's ingress rules' fromEndpoints select. A rule with no
 * peer ('any') allows every pod's identity; CIDR peers carry no identity and are left out (noted).
 * Peers allowed by *other* policies selecting the pod are not in the list (refused by the tunnel).
 * Ports are not checked by the tunnel (the network policy hook does). IPv4 only.
 */
export function planTunnel(model: Model, trustDomain: string): TunnelPlan {
  const required = new Map<string, RequiredPod>();
  const notes: string[] = [];
  const pods = [...model.pods.values()].filter((p) => !p.terminating && !p.hostNetwork);
  for (const policy of model.networkPolicies ?? []) {
    if (!(policy.ingress ?? []).some((r) => r.authentication === 'required')) continue;
    // Every ingress rule of the policy names who may come in: through the tunnel, all of them
    // come authenticated (a rule without authentication is not weakened, only made stronger).
    const rules = policy.ingress!;
    const subjects = pods.filter((p) => p.meta.namespace === policy.meta.namespace && selects(policy.podSelector, p.meta.labels));
    const allowed = new Set<string>();
    for (const rule of rules) {
      if (rule.peers === 'any') {
        for (const p of pods) allowed.add(podIdentity(p, trustDomain));
        continue;
      }
      for (const peer of rule.peers) {
        if (peer.kind === 'cidr') {
          notes.push(`${policyName(policy)}: an authenticated rule's CIDR peer ${peer.cidr} has no workload identity: it gets no access through the tunnel`);
          continue;
        }
        for (const p of pods) if (peerSelects(model, policy, peer, p)) allowed.add(podIdentity(p, trustDomain));
      }
    }
    for (const pod of subjects) {
      const addr = pod.ips.find((a) => !a.includes(':'));
      if (!addr) {
        if (pod.ips.length > 0) notes.push(`${policyName(policy)}: pod ${pod.meta.namespace}/${pod.meta.name} has no IPv4 address: the tunnel steers IPv4 only, it is not protected`);
        continue;
      }
      const entry = required.get(addr) ?? { addr, pod: `${pod.meta.namespace}/${pod.meta.name}`, identity: podIdentity(pod, trustDomain), allowed: [], policies: [] };
      if (pod.meta.uid) entry.uid = pod.meta.uid.toLowerCase();
      if (pod.nodeName) entry.nodeName = pod.nodeName;
      entry.allowed = [...new Set([...entry.allowed, ...allowed])].sort();
      entry.policies.push(policyName(policy));
      required.set(addr, entry);
    }
  }
  return { required, notes };
}

export interface TunnelConfigInput {
  node: string;
  trustDomain: string;
  /** The node's address pods reach and peer nodes connect to. */
  nodeAddr: string;
  pin: string;
  /** Cgroup ids of this node's pods (podCgroups), by pod UID. */
  cgroups: Map<string, bigint[]>;
}

/** The tunnel's configuration (src/tunnel/config.ts's shape, without the credential files) for `plan` on this node. */
export function tunnelConfig(model: Model, plan: TunnelPlan, input: TunnelConfigInput): { config: Record<string, unknown>; notes: string[] } {
  const notes: string[] = [];
  const sources: Record<string, { identity: string; addr: string }> = {};
  for (const pod of model.pods.values()) {
    if (pod.nodeName !== input.node || pod.hostNetwork || !pod.meta.uid) continue;
    const addr = pod.ips.find((a) => !a.includes(':'));
    if (!addr) continue;
    for (const id of input.cgroups.get(pod.meta.uid.toLowerCase()) ?? []) sources[String(id)] = { identity: podIdentity(pod, input.trustDomain), addr };
  }
  const destinations: Record<string, { identity: string; node: { addr: string; port: number } }> = {};
  const local: Record<string, { identity: string; allowed: string[] }> = {};
  for (const entry of plan.required.values()) {
    const nodeAddr = entry.nodeName === input.node ? input.nodeAddr : entry.nodeName ? model.nodes.get(entry.nodeName)?.internalIP : undefined;
    if (!nodeAddr) {
      notes.push(`pod ${entry.pod} (${entry.addr}) requires authentication but its node${entry.nodeName ? ` ${entry.nodeName}` : ''} has no known InternalIP: connections to it are refused`);
    } else destinations[entry.addr] = { identity: entry.identity, node: { addr: nodeAddr, port: INBOUND_PORT } };
    if (entry.nodeName === input.node) local[entry.addr] = { identity: entry.identity, allowed: entry.allowed };
  }
  return {
    config: {
      node: input.node,
      trustDomain: input.trustDomain,
      outbound: { addr: input.nodeAddr, port: OUTBOUND_PORT },
      inbound: { addr: input.nodeAddr, port: INBOUND_PORT },
      pin: input.pin,
      sources,
      destinations,
      local,
    },
    notes,
  };
}

export interface NodeTunnelOptions {
  node: string;
  trustDomain: string;
  /** The node address (--node-ip): the tunnel's listeners. */
  nodeAddr: string;
  /** The routed cgroup (the steering program is attached to it, after meshc's). */
  cgroup: string;
  /** The agent's pin directory: the steering maps go to its maps/, the link to its links/. */
  pin: string;
  /** A directory (not bpffs) for the tunnel's configuration and credential files. */
  stateDir: string;
  identities: IdentitySource;
  log: (line: string) => void;
  /** The tunnel's connection events (opened, refused, closed), read from its stdout: the agent's flows. */
  onEvent?: (event: TunnelEvent) => void;
  /** The steering object (built from bpf/tunnel.bpf.c when omitted). */
  objectPath?: string;
  bin?: string;
  /** A command the tunnel runs under (tests: nsenter into a node's network namespace). */
  launcher?: string[];
  /** First restart delay (doubles up to 30 s). */
  restartMs?: number;
}

/**
 * The agent's tunnel. Fail closed: the steering program and mc_tun_dests are pinned and point at
 * the tunnel's listener whether the process runs or not, so while it is down (crashed, restarting,
 * the agent stopped) a connection to a pod that requires authentication is refused, never sent in
 * the clear.
 */
export class NodeTunnel {
  private steering?: TunnelSteering;
  private link?: BpfLink;
  private child?: ChildProcess;
  private stopped = false;
  private failures = 0;
  private restartTimer?: NodeJS.Timeout;
  private dests = new Set<string>();
  private model?: Model;
  private readonly follow;
  /** Restarts so far (tests and metrics). */
  restarts = 0;
  private lastExit?: string;
  /** What was logged per protected pod address (logged again only when it changes). */
  private said = new Map<string, string>();
  private plan?: TunnelPlan;

  constructor(private readonly options: NodeTunnelOptions) {
    this.follow = followIdentities(options.identities);
    this.follow.credentials.onChange(() => this.rewrite());
  }

  private get configFile(): string {
    return join(this.options.stateDir, 'tunnel.json');
  }

  /** Loads the steering object (adopting its pins) and attaches it after meshc's programs; call after Agent.start(). */
  start(): void {
    const { pin, cgroup } = this.options;
    const maps = join(pin, 'maps');
    const links = join(pin, 'links');
    mkdirSync(links, { recursive: true });
    mkdirSync(this.options.stateDir, { recursive: true, mode: 0o700 });
    this.steering = TunnelSteering.load(this.options.objectPath ?? buildTunnelObject(), maps);
    const linkPath = join(links, TUNNEL_PROGRAM);
    if (existsSync(linkPath)) {
      const pinned = openPinnedLink(linkPath);
      if (pinned.info.progId !== 0) this.link = pinned;
      else pinned.detach();
    }
    if (!this.link) {
      this.link = this.steering.attach(cgroup);
      this.link.pin(linkPath);
    }
    this.steering.setTunnel({ addr: this.options.nodeAddr, port: OUTBOUND_PORT });
    this.options.log(`agent: tunnel: steering attached to ${cgroup} after meshc's hooks (${linkPath}); listeners ${this.options.nodeAddr}:${OUTBOUND_PORT} (pods) and :${INBOUND_PORT} (nodes)`);
  }

  /** Applies the model: mc_tun_dests, the configuration, a SIGHUP (or the first start). */
  update(model: Model): TunnelPlan {
    this.model = model;
    const plan = planTunnel(model, this.options.trustDomain);
    const next = new Set(plan.required.keys());
    for (const addr of next) if (!this.dests.has(addr)) this.steering!.requireAuth(addr);
    for (const addr of this.dests) if (!next.has(addr)) this.steering!.requireAuth(addr, false);
    this.dests = next;
    for (const note of plan.notes) this.options.log(`agent: tunnel: ${note}`);
    const said = new Map([...plan.required.values()].map((r) => [r.addr, `${r.pod} (${r.addr}, ${r.identity}) requires authentication (${r.policies.join(', ')}): enforced through the tunnel, allowed ${r.allowed.join(', ') || 'none'}`]));
    for (const [addr, line] of said) if (this.said.get(addr) !== line) this.options.log(`agent: tunnel: ${line}`);
    for (const addr of this.said.keys()) if (!said.has(addr)) this.options.log(`agent: tunnel: ${addr} no longer requires authentication`);
    this.said = said;
    this.rewrite(plan);
    return plan;
  }

  private rewrite(plan?: TunnelPlan): void {
    if (!this.model || this.stopped) return;
    const p = plan ?? planTunnel(this.model, this.options.trustDomain);
    const uids = new Set([...this.model.pods.values()].filter((pod) => pod.nodeName === this.options.node && pod.meta.uid).map((pod) => pod.meta.uid!.toLowerCase()));
    const { config, notes } = tunnelConfig(this.model, p, { node: this.options.node, trustDomain: this.options.trustDomain, nodeAddr: this.options.nodeAddr, pin: join(this.options.pin, 'maps'), cgroups: podCgroups(this.options.cgroup, uids) });
    if (plan) for (const note of notes) this.options.log(`agent: tunnel: ${note}`);
    const files = writeCredentialFiles(this.follow.credentials, join(this.options.stateDir, 'creds'));
    const svids = Object.fromEntries(Object.entries(files.svids).map(([id, f]) => [id, { key: `creds/${f.key}`, cert: `creds/${f.cert}` }]));
    writeFileSync(`${this.configFile}.tmp`, JSON.stringify({ ...config, bundle: `creds/${files.bundle}`, svids }, null, 2), { mode: 0o600 });
    renameSync(`${this.configFile}.tmp`, this.configFile);
    this.plan = p;
    if (this.child) this.child.kill('SIGHUP');
    else if (!this.restartTimer) this.spawn();
    this.writeStatus();
  }

  /** The status `meshc inspect` shows (src/tunnel/status.ts). */
  writeStatus(): void {
    if (this.stopped || !this.steering) return;
    const { nodeAddr } = this.options;
    writeTunnelStatus(this.options.pin, {
      node: this.options.node,
      updated: new Date().toISOString(),
      listen: { outbound: `${nodeAddr}:${OUTBOUND_PORT}`, inbound: `${nodeAddr}:${INBOUND_PORT}` },
      process: { running: this.child !== undefined, ...(this.child?.pid ? { pid: this.child.pid } : {}), restarts: this.restarts, ...(this.lastExit ? { lastExit: this.lastExit } : {}) },
      identities: this.follow.credentials.identities().sort(),
      required: [...(this.plan?.required.values() ?? [])].map((r) => ({ addr: r.addr, pod: r.pod, identity: r.identity, allowed: r.allowed, ...(r.nodeName ? { node: r.nodeName } : {}) })),
      steering: this.steering.metrics(),
    });
  }

  private spawn(): void {
    this.restartTimer = undefined;
    if (this.stopped) return;
    const argv = [...DIES_WITH_AGENT, ...(this.options.launcher ?? []), process.execPath, this.options.bin ?? TUNNEL_BIN, this.configFile];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.writeStatus();
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"ready"')) this.failures = 0;
      this.options.log(`tunnel: ${line}`);
      const event = connectionEvent(line);
      if (event) this.options.onEvent?.(event);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => this.options.log(`tunnel: ${line}`));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      this.failures++;
      this.restarts++;
      const delay = Math.min((this.options.restartMs ?? 1000) * 2 ** (this.failures - 1), 30000);
      this.lastExit = `${new Date().toISOString()} ${signal ?? `code ${code}`}`;
      this.writeStatus();
      this.options.log(`agent: tunnel exited (${signal ?? `code ${code}`}); connections to pods that require authentication are refused until it is back; restarting in ${delay} ms`);
      this.restartTimer = setTimeout(() => this.spawn(), delay);
    });
  }

  /** The tunnel process's pid (tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Stops the process; the steering stays pinned (fail closed until the next agent). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.follow.stop();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    removeTunnelStatus(this.options.pin);
    this.link?.close();
    this.steering?.obj.close();
  }
}

/** A connection event among the tunnel's stdout lines (src/tunnel/main.ts prints one JSON object a line). */
export function connectionEvent(line: string): TunnelEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(line) as Partial<TunnelEvent>;
    const connection = value.type === 'opened' || value.type === 'refused' || value.type === 'closed';
    return connection && (value.direction === 'outbound' || value.direction === 'inbound') && typeof value.time === 'number' ? (value as TunnelEvent) : undefined;
  } catch {
    return undefined;
  }
}
