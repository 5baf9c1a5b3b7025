// The test cluster has no kubelet and no scheduler: this plays both, as far as meshc can tell.
// It binds each unscheduled Pod to a node (round robin), and for each Pod bound to one of its
// nodes starts the Pod's one process (pod.mjs, serving the containers' TCP ports) in a network
// namespace and a cgroup of the Pod's own, then writes the Pod's status through the API (Running,
// podIP, Ready), from which the real EndpointSlice controller makes the slices. A deleted Pod is
// marked terminating by the API server; like a kubelet, this keeps it serving for its grace
// period (at most `drainMs`), stops it, and then deletes it for good (grace period 0).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ApiError, type ApiClient, type WatchEvent } from './api.ts';
import type { ClusterNetwork, PodNetwork } from './network.ts';

const POD_SERVER = fileURLToPath(new URL('./pod.mjs', import.meta.url));

export interface KubeletOptions {
  /** How long a terminating Pod keeps serving, at most (its terminationGracePeriodSeconds otherwise). */
  drainMs: number;
  log?: (line: string) => void;
}

interface RunningPod {
  key: string;
  uid: string;
  node: string;
  net: PodNetwork;
  cgroup: string;
  process: ChildProcess;
  terminating: boolean;
}

/** `namespace/name` of a Pod. */
const keyOf = (pod: any) => `${pod.metadata.namespace}/${pod.metadata.name}`;

export class Kubelet {
  private readonly running = new Map<string, RunningPod>();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly bound = new Set<string>();
  private nextNode = 0;
  private stopWatch: (() => void) | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  /** Problems met while running pods (a test asserts there are none). */
  readonly errors: string[] = [];

  constructor(
    private readonly api: ApiClient,
    private readonly network: ClusterNetwork,
    /** The cgroup of each node (pods get one below it). */
    private readonly nodeCgroups: Map<string, string>,
    private readonly options: KubeletOptions,
  ) {}

  async start(): Promise<void> {
    await this.listAndWatch();
  }

  private async listAndWatch(): Promise<void> {
    if (this.stopped) return;
    let list;
    try {
      list = await this.api.get('/api/v1/pods');
    } catch {
      this.retry = setTimeout(() => void this.listAndWatch(), 500);
      return;
    }
    const present = new Set<string>();
    for (const pod of list.items) {
      present.add(pod.metadata.uid);
      this.enqueue(pod);
    }
    for (const pod of this.running.values()) if (!present.has(pod.uid)) this.serially(pod.uid, () => this.stopPod(pod));
    this.stopWatch = this.api.watch('/api/v1/pods', list.metadata.resourceVersion, (event) => this.onEvent(event), () => {
      this.stopWatch = undefined;
      if (!this.stopped) this.retry = setTimeout(() => void this.listAndWatch(), 200);
    });
  }

  private onEvent(event: WatchEvent): void {
    if (event.type === 'ERROR') return; // the stream ends next; the relist catches up
    if (event.type === 'BOOKMARK') return;
    if (event.type === 'DELETED') {
      const pod = this.running.get(event.object.metadata.uid);
      if (pod) this.serially(pod.uid, () => this.stopPod(pod));
      return;
    }
    this.enqueue(event.object);
  }

  private enqueue(pod: any): void {
    this.serially(pod.metadata.uid, () => this.reconcile(pod));
  }

  /** Runs one Pod's work in order; a failure is recorded, never thrown into the watch. */
  private serially(uid: string, work: () => Promise<void>): void {
    const next = (this.queues.get(uid) ?? Promise.resolve()).then(work).catch((error) => {
      if (!this.stopped) this.errors.push(`${(error as Error).message}`);
      this.options.log?.(`kubelet: ${(error as Error).message}`);
    });
    this.queues.set(uid, next);
    void next.then(() => {
      if (this.queues.get(uid) === next) this.queues.delete(uid);
    });
  }

  private async reconcile(pod: any): Promise<void> {
    if (this.stopped) return;
    const uid = pod.metadata.uid;
    const mine = this.nodeCgroups.has(pod.spec.nodeName);
    if (pod.metadata.deletionTimestamp) {
      const running = this.running.get(uid);
      if (running && !running.terminating) await this.terminate(running, pod);
      else if (!running && mine) await this.finalDelete(pod);
      return;
    }
    if (!pod.spec.nodeName) {
      if (!this.bound.has(uid)) await this.bind(pod);
      return;
    }
    if (!mine || this.running.has(uid) || ['Succeeded', 'Failed'].includes(pod.status?.phase)) return;
    await this.run(pod);
  }

  /** What a scheduler does: the next node, through the binding subresource. */
  private async bind(pod: any): Promise<void> {
    const nodes = [...this.nodeCgroups.keys()];
    const node = nodes[this.nextNode++ % nodes.length]!;
    this.bound.add(pod.metadata.uid);
    await this.api.create(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/binding`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: pod.metadata.name, uid: pod.metadata.uid },
      target: { apiVersion: 'v1', kind: 'Node', name: node },
    });
  }

  private async run(pod: any): Promise<void> {
    const key = keyOf(pod);
    const node = pod.spec.nodeName;
    const ports = (pod.spec.containers ?? []).flatMap((c: any) => (c.ports ?? []).filter((p: any) => (p.protocol ?? 'TCP') === 'TCP').map((p: any) => String(p.containerPort)));
    const net = this.network.addPod(node);
    // Named as kubelet's cgroupfs driver names a pod's cgroup (pod<uid>): the agent finds pods'
    // cgroups by that name (meshc.io/skip, network policy's endpoints).
    const cgroup = path.join(this.nodeCgroups.get(node)!, `pod${pod.metadata.uid}`);
    mkdirSync(cgroup);
    const script = `echo $$ > ${cgroup}/cgroup.procs && exec ip netns exec ${net.netns} ${process.execPath} ${POD_SERVER} ${pod.metadata.name} ${ports.join(' ')}`;
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const running: RunningPod = { key, uid: pod.metadata.uid, node, net, cgroup, process: child, terminating: false };
    this.running.set(running.uid, running);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', () => resolve());
      child.once('exit', (code) => reject(new Error(`pod ${key}: its process exited with ${code}: ${stderr.trim()}`)));
    });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const condition = (type: string) => ({ type, status: 'True', lastTransitionTime: now });
    const nodeAddress = this.network.node(node).address;
    await this.api.mergePatch(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, {
      status: {
        phase: 'Running',
        hostIP: nodeAddress,
        hostIPs: [{ ip: nodeAddress }],
        podIP: net.address,
        podIPs: [{ ip: net.address }],
        startTime: now,
        conditions: ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready', 'PodScheduled'].map(condition),
        containerStatuses: (pod.spec.containers ?? []).map((c: any) => ({ name: c.name, image: c.image, imageID: '', ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } } })),
      },
    });
    this.options.log?.(`kubelet: ${key} running on ${node} at ${net.address}`);
  }

  /** A terminating Pod: serving through its grace period, then stopped and deleted for good. */
  private async terminate(running: RunningPod, pod: any): Promise<void> {
    running.terminating = true;
    const grace = Number(pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    await new Promise((r) => setTimeout(r, Math.min(grace, this.options.drainMs)));
    await this.stopPod(running);
    await this.finalDelete(pod);
  }

  private async finalDelete(pod: any): Promise<void> {
    try {
      await this.api.remove(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid },
      });
    } catch (error) {
      if (!(error instanceof ApiError && (error.status === 404 || error.status === 409))) throw error;
    }
  }

  private async stopPod(running: RunningPod): Promise<void> {
    if (!this.running.delete(running.uid)) return;
    const exited = new Promise((r) => (running.process.exitCode !== null ? r(undefined) : running.process.once('exit', r)));
    killCgroup(running.cgroup);
    await exited;
    removeCgroup(running.cgroup);
    this.network.removePod(running.node, running.net);
    this.options.log?.(`kubelet: ${running.key} stopped`);
  }

  /** The running Pod `namespace/name`'s namespace and cgroup (to exec in it). */
  pod(namespace: string, name: string): { netns: string; cgroup: string; address: string; node: string } {
    for (const p of this.running.values()) if (p.key === `${namespace}/${name}` && !p.terminating) return { netns: p.net.netns, cgroup: p.cgroup, address: p.net.address, node: p.node };
    throw new Error(`pod ${namespace}/${name} is not running`);
  }

  /** Runs `argv` in the Pod's network namespace and cgroup, as `kubectl exec` would in its container. */
  exec(namespace: string, name: string, argv: string[]): ChildProcess {
    const { netns, cgroup } = this.pod(namespace, name);
    const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    return spawn('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec ip netns exec ${netns} ${quoted}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  }

  /** Stops watching and every Pod process; removes their namespaces and cgroups. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    this.stopWatch?.();
    await Promise.allSettled([...this.queues.values()]);
    await Promise.all([...this.running.values()].map((p) => this.stopPod(p)));
  }
}

function killCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) killCgroup(path.join(dir, entry.name));
  const procs = readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
  for (const pid of procs) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** Removes a cgroup tree of ours, deepest first, once its processes are gone. */
export function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeCgroup(path.join(dir, entry.name));
  for (let i = 0; i < 50 && existsSync(dir); i++) {
    try {
      rmdirSync(dir);
    } catch {
      killCgroup(dir);
      spawnSync('sleep', ['0.05']);
    }
  }
}
