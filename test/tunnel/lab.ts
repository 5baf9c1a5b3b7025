// The tunnel lab: node network namespaces on a bridge (in a netns of its own), pods as network
// namespaces behind a veth of their node and cgroups below their node's cgroup, the tunnel's
// connect4 attached to each node's cgroup, one tunnel process per node, and a capture on the
// bridge. Every name carries the lab's id; dispose() removes everything, also after a failure.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { IdentityStore } from '../../src/identity/store.ts';
import type { Credentials } from '../../src/tunnel/credentials.ts';
import { followIdentities, writeCredentialFiles } from '../../src/tunnel/from-identity.ts';
import { TunnelSteering } from '../../src/tunnel/steering.ts';
import type { TunnelEvent } from '../../src/tunnel/tunnel.ts';
import { removeCgroupTree } from '../agent/live/lab.ts';
import { CGROUP_ROOT, makePinDir, removePinDir } from '../kernel/env.ts';
import { ip } from '../kernel/hook-lab.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const POD = fileURLToPath(new URL('pod.mjs', import.meta.url));
export const TUNNEL_BIN = path.join(ROOT, 'bin', 'meshc-tunnel.js');
export const TRUST_DOMAIN = 'cluster.local';
export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15008;

export const sa = (name: string, ns = 'default') => `spiffe://${TRUST_DOMAIN}/ns/${ns}/sa/${name}`;

/** A pod UID whose last digits are `n` (pod cgroups are named pod<uid>, as kubelet names them). */
export const podUid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** The Pod object for a lab pod, for the agent's model. */
export function podYaml(pod: Pod, uid: string, serviceAccount: string, app: string): string {
  return `---
apiVersion: v1
kind: Pod
metadata: {name: ${app}, namespace: default, uid: ${uid}, labels: {app: ${app}}}
spec: {nodeName: ${pod.node.name}, serviceAccountName: ${serviceAccount}, containers: [{name: c, image: x}]}
status: {podIP: ${pod.addr}, phase: Running}
`;
}

/** The lab's Node objects (InternalIP: each node's bridge address), then `rest`. */
export function nodesYaml(nodes: LabNode[]): string {
  return nodes.map((node) => `---
apiVersion: v1
kind: Node
metadata: {name: ${node.name}}
status: {addresses: [{type: InternalIP, address: ${node.addr}}]}
`).join('');
}

/** The seed's policy: pods app=api take connections from app=web only, authenticated. */
export const API_MTLS_POLICY = `---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-mtls, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
    authentication: {mode: required}
`;

export interface Pod {
  name: string;
  node: LabNode;
  addr: string;
  identity: string;
  netns: string;
  cgroup: string;
  cgroupId: string;
}

export interface LabNode {
  index: number;
  name: string;
  netns: string;
  addr: string;
  cgroup: string;
  pin: string;
  /** The lab's own steering; undefined on a node whose agent (src/agent/tunnel.ts) loads it. */
  steering?: TunnelSteering;
  dir: string;
  tunnel?: TunnelProcess;
  /**
   * The identities the node holds (as the agent's identity manager fills them), followed by
   * `credentials` through the adapter (src/tunnel/from-identity.ts), whose files the configuration names.
   */
  identities: IdentityStore;
  credentials: Credentials;
  /** The tunnel's configuration beyond what the lab derives (svids made outside the store, local pods' allowed lists). */
  svids: Record<string, { key: string; cert: string }>;
  allowed: Record<string, string[]>;
}

export interface TunnelProcess {
  child: ChildProcessWithoutNullStreams;
  lines: Array<Record<string, unknown>>;
  stderr: string[];
}

export class TunnelLab {
  readonly id = randomBytes(3).toString('hex');
  readonly fabric = `mtun-${this.id}-f`;
  readonly cgroup = path.join(CGROUP_ROOT, `mtun-${this.id}`);
  readonly dir = mkdtempSync(path.join(tmpdir(), 'meshc-tunnel-lab-'));
  readonly nodes: LabNode[] = [];
  readonly pods = new Map<string, Pod>();
  /** Pod address -> node, for every node's destinations table. */
  readonly requireAuth = new Set<string>();
  bundle = '';
  private readonly children: ChildProcessWithoutNullStreams[] = [];
  private podSeq = 0;

  constructor(readonly objectPath: string) {
    mkdirSync(this.cgroup);
    ip(['netns', 'add', this.fabric]);
    ip(['-n', this.fabric, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', this.fabric, 'link', 'set', 'br0', 'up']);
  }

  addNode(options: { steering?: boolean } = {}): LabNode {
    const index = this.nodes.length + 1;
    const name = `n${index}`;
    const netns = `mtun-${this.id}-${name}`;
    const addr = `10.99.0.${index}`;
    ip(['netns', 'add', netns]);
    ip(['-n', this.fabric, 'link', 'add', `b${index}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    ip(['-n', this.fabric, 'link', 'set', `b${index}`, 'master', 'br0', 'up']);
    ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    ip(['-n', netns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
    ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    sh(netns, 'echo 1 > /proc/sys/net/ipv4/ip_forward');
    for (const other of this.nodes) {
      ip(['-n', netns, 'route', 'add', `10.99.${other.index}.0/24`, 'via', other.addr]);
      ip(['-n', other.netns, 'route', 'add', `10.99.${index}.0/24`, 'via', addr]);
    }
    const cgroup = path.join(this.cgroup, name);
    mkdirSync(cgroup);
    const pin = makePinDir(`tunnel-${name}`);
    let steering: TunnelSteering | undefined;
    if (options.steering !== false) {
      steering = TunnelSteering.load(this.objectPath, pin);
      steering.attach(cgroup);
      steering.setTunnel({ addr, port: OUTBOUND_PORT });
    }
    const dir = path.join(this.dir, name);
    mkdirSync(dir);
    const identities = new IdentityStore(TRUST_DOMAIN, this.bundle);
    const { credentials } = followIdentities(identities);
    const node: LabNode = { index, name, netns, addr, cgroup, pin, steering, dir, identities, credentials, svids: {}, allowed: {} };
    this.nodes.push(node);
    return node;
  }

  /** A pod on `node` with ServiceAccount identity `identity`, at `addr` (default: the next free one). */
  addPod(node: LabNode, name: string, identity: string, addr?: string): Pod {
    const seq = ++this.podSeq;
    const podAddr = addr ?? `10.99.${node.index}.${10 + seq}`;
    const netns = `mtun-${this.id}-p${seq}`;
    const veth = `v${seq}`;
    ip(['netns', 'add', netns]);
    ip(['-n', node.netns, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    ip(['-n', node.netns, 'addr', 'add', `10.99.${node.index}.1/32`, 'dev', veth]);
    ip(['-n', node.netns, 'link', 'set', veth, 'up']);
    ip(['-n', node.netns, 'route', 'add', `${podAddr}/32`, 'dev', veth]);
    ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    ip(['-n', netns, 'addr', 'add', `${podAddr}/32`, 'dev', 'eth0']);
    ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', netns, 'route', 'add', `10.99.${node.index}.1`, 'dev', 'eth0']);
    ip(['-n', netns, 'route', 'add', 'default', 'via', `10.99.${node.index}.1`]);
    const cgroup = path.join(node.cgroup, `${name}-${seq}`);
    mkdirSync(cgroup);
    const cgroupId = String(statSync(cgroup, { bigint: true }).ino);
    const pod: Pod = { name, node, addr: podAddr, identity, netns, cgroup, cgroupId };
    this.pods.set(name, pod);
    return pod;
  }

  /** Removes a pod (its processes, netns, veth and cgroup); its address is free for another. */
  removePod(pod: Pod): void {
    removeCgroupTree(pod.cgroup);
    spawnSync('ip', ['netns', 'del', pod.netns]);
    spawnSync('ip', ['-n', pod.node.netns, 'route', 'del', `${pod.addr}/32`]);
    this.pods.delete(pod.name);
    delete pod.node.allowed[pod.addr];
  }

  /** Starts an echo server in the pod (in its cgroup), resolving once it listens. */
  async serve(pod: Pod, port: number): Promise<void> {
    const child = this.inPod(pod, ['serve', pod.name, String(port)]);
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`server in ${pod.name} exited with ${code}`)));
    });
  }

  /** Runs pod.mjs ARGS in the pod's netns and cgroup; resolves with its JSON line. */
  async dial(pod: Pod, args: string[]): Promise<Record<string, unknown>> {
    const child = this.inPod(pod, args);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await new Promise((r) => child.once('exit', r));
    return JSON.parse(out.trim().split('\n')[0] ?? '{}') as Record<string, unknown>;
  }

  /** Runs a Node script in the pod's netns and cgroup (the child's pid is the script's). */
  inPod(pod: Pod, args: string[], script = POD): ChildProcessWithoutNullStreams {
    const command = `echo $$ > ${pod.cgroup}/cgroup.procs && exec ip netns exec ${pod.netns} ${process.execPath} ${script} ${args.join(' ')}`;
    const child = spawn('sh', ['-c', command]);
    this.children.push(child);
    return child;
  }

  /** Marks a pod as requiring authentication: every node steers connections to it to its tunnel. */
  require(pod: Pod, allowed: string[]): void {
    this.requireAuth.add(pod.addr);
    pod.node.allowed[pod.addr] = allowed;
    for (const node of this.nodes) node.steering?.requireAuth(pod.addr);
  }

  /** The configuration the agent would write for `node` from the lab's pods. */
  writeConfig(node: LabNode, override: { destinations?: Record<string, { identity: string; node: { addr: string; port: number } }> } = {}): string {
    const write = (name: string, text: string) => {
      writeFileSync(path.join(node.dir, name), text);
      return name;
    };
    // What the store holds, through the adapter, as the agent hands it to its tunnel process.
    const held = writeCredentialFiles(node.credentials, path.join(node.dir, 'creds'));
    const svids: Record<string, { key: string; cert: string }> = Object.fromEntries(Object.entries(held.svids).map(([id, f]) => [id, { key: `creds/${f.key}`, cert: `creds/${f.cert}` }]));
    for (const [id, svid] of Object.entries(node.svids)) {
      const base = id.replace(/[^a-z0-9]+/g, '_');
      svids[id] = { key: write(`${base}.key`, svid.key), cert: write(`${base}.pem`, svid.cert) };
    }
    const pods = [...this.pods.values()];
    const config = {
      node: node.name,
      trustDomain: TRUST_DOMAIN,
      outbound: { addr: node.addr, port: OUTBOUND_PORT },
      inbound: { addr: node.addr, port: INBOUND_PORT },
      pin: node.pin,
      bundle: `creds/${held.bundle}`,
      svids,
      sources: Object.fromEntries(pods.filter((p) => p.node === node).map((p) => [p.cgroupId, { identity: p.identity, addr: p.addr }])),
      destinations: override.destinations ?? Object.fromEntries(pods.filter((p) => this.requireAuth.has(p.addr)).map((p) => [p.addr, { identity: p.identity, node: { addr: p.node.addr, port: INBOUND_PORT } }])),
      local: Object.fromEntries(pods.filter((p) => p.node === node && this.requireAuth.has(p.addr)).map((p) => [p.addr, { identity: p.identity, allowed: node.allowed[p.addr] ?? [] }])),
    };
    const file = path.join(node.dir, 'tunnel.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(config, null, 2));
    spawnSync('mv', [`${file}.tmp`, file]);
    return file;
  }

  /** Starts the node's tunnel process in the node's netns (outside the pods' cgroups). */
  async startTunnel(node: LabNode): Promise<TunnelProcess> {
    const file = this.writeConfig(node);
    // nsenter, not `ip netns exec`: that remounts /sys, hiding the bpffs pins the tunnel reads.
    const child = spawn('nsenter', [`--net=/run/netns/${node.netns}`, process.execPath, TUNNEL_BIN, file]);
    this.children.push(child);
    const proc: TunnelProcess = { child, lines: [], stderr: [] };
    createInterface({ input: child.stderr }).on('line', (l) => proc.stderr.push(l));
    createInterface({ input: child.stdout }).on('line', (l) => proc.lines.push(JSON.parse(l) as Record<string, unknown>));
    node.tunnel = proc;
    await waitFor(`tunnel of ${node.name} ready`, () => proc.lines.some((l) => l.type === 'ready'), () => {
      if (child.exitCode !== null) throw new Error(`tunnel of ${node.name} exited: ${proc.stderr.join('\n')}`);
    });
    return proc;
  }

  /** Rewrites the node's configuration and has its tunnel reread it. */
  async reload(node: LabNode, override: Parameters<TunnelLab['writeConfig']>[1] = {}): Promise<void> {
    const proc = node.tunnel!;
    const before = proc.lines.filter((l) => l.type === 'reloaded').length;
    this.writeConfig(node, override);
    proc.child.kill('SIGHUP');
    await waitFor(`tunnel of ${node.name} reloaded`, () => proc.lines.filter((l) => l.type === 'reloaded').length > before, () => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`tunnel of ${node.name} exited: ${proc.stderr.join('\n')}`);
    });
  }

  async killTunnel(node: LabNode): Promise<void> {
    const child = node.tunnel!.child;
    // nsenter execs node: the child is the tunnel itself.
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    node.tunnel = undefined;
  }

  /** Events of type `type` the node's tunnel printed since `from` (an index into its lines). */
  events(node: LabNode, type: TunnelEvent['type'], from = 0): TunnelEvent[] {
    return (node.tunnel?.lines ?? []).slice(from).filter((l) => l.type === type) as unknown as TunnelEvent[];
  }

  mark(node: LabNode): number {
    return node.tunnel?.lines.length ?? 0;
  }

  /**
   * Starts tcpdump on the bridge's ports (every frame once, as it enters the bridge: `-i any -Q in`
   * in the bridge's netns; br0 itself does not see every forwarded frame), writing to a file;
   * resolves once it captures. Immediate mode: otherwise the packets of the last ring block
   * (up to a second's worth) are lost when tcpdump stops. A 64 MiB buffer: with the default 2 MiB
   * the kernel dropped packets on the loaded test machine.
   */
  async capture(): Promise<{ file: string; stop: () => Promise<void>; log: () => string }> {
    const file = path.join(this.dir, 'bridge.pcap');
    const child = spawn('ip', ['netns', 'exec', this.fabric, 'tcpdump', '-i', 'any', '-Q', 'in', '--immediate-mode', '-B', '65536', '-U', '-n', '-s', '0', '-w', file]);
    this.children.push(child);
    let err = '';
    await waitFor('tcpdump listening', () => /listening on/.test(err), () => {
      if (child.exitCode !== null) throw new Error(`tcpdump exited: ${err}`);
    }, () => child.stderr.on('data', (d) => (err += d)));
    return {
      file,
      log: () => err,
      stop: async () => {
        child.kill('SIGINT');
        if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      },
    };
  }

  dispose(): void {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const node of this.nodes) {
      try {
        node.steering?.close();
      } catch {
        // closed already
      }
      removePinDir(node.pin);
    }
    removeCgroupTree(this.cgroup);
    for (const pod of this.pods.values()) spawnSync('ip', ['netns', 'del', pod.netns]);
    for (const node of this.nodes) spawnSync('ip', ['netns', 'del', node.netns]);
    spawnSync('ip', ['netns', 'del', this.fabric]);
    // Pods removed earlier already deleted theirs; any other netns of this lab by name.
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`mtun-${this.id}-`));
    for (const n of left) spawnSync('ip', ['netns', 'del', n]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function sh(netns: string, command: string): void {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'sh', '-c', command], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${netns}: ${command}: ${r.stderr.trim()}`);
}

/**
 * Polls `predicate` every 20 ms (calling `check` to fail early) for up to 60 s: a process start
 * (tsx compiling the tunnel) takes seconds on a loaded 2-core machine.
 */
export async function waitFor(what: string, predicate: () => boolean, check: () => void = () => {}, start: () => void = () => {}): Promise<void> {
  start();
  const deadline = Date.now() + 60_000;
  while (!predicate()) {
    check();
    if (Date.now() > deadline) throw new Error(`${what}: not within 60 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
