// A test cluster: the real control plane (control-plane.ts), node network namespaces on a bridge
// (network.ts), the harness's kubelet (kubelet.ts), and one meshc agent per node (agent.ts)
// running as deploy/'s ServiceAccount. start() tears down what it made when it fails; dispose()
// removes everything, and a process exit removes the namespaces and cgroups as a last resort.
//
// A developer can poke at one: MESHC_CLUSTER_KEEP=1 leaves a failed test's cluster directory
// (logs, kubeconfigs) in place, and `kubectl --kubeconfig <dir>/admin.kubeconfig ...` works while
// it runs.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cgroup2Mount } from './components.ts';
import { ControlPlane, type ControlPlaneOptions } from './control-plane.ts';
import { Kubelet } from './kubelet.ts';
import { ClusterNetwork } from './network.ts';
import { NodeAgent } from './agent.ts';
import { removeCgroup } from './kubelet.ts';

export const CLIENT = fileURLToPath(new URL('../agent/live/client.mjs', import.meta.url));

export interface ClusterOptions {
  nodes?: number;
  /** Start one agent per node (default true). */
  agents?: boolean;
  /** How long a terminating pod keeps serving (default 1500 ms). */
  drainMs?: number;
  controlPlane?: Partial<ControlPlaneOptions>;
  log?: (line: string) => void;
}

export interface ConnectionRecord {
  t0: string;
  t1: string;
  backend?: string;
  peer?: string;
  error?: string;
}

export class TestCluster {
  readonly id = randomBytes(3).toString('hex');
  readonly dir: string;
  readonly controlPlane: ControlPlane;
  readonly network: ClusterNetwork;
  readonly cgroup: string;
  readonly nodeCgroups = new Map<string, string>();
  readonly agents = new Map<string, NodeAgent>();
  kubelet!: Kubelet;
  private readonly exitHook = () => this.disposeSync();

  private constructor(private readonly options: ClusterOptions) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'meshc-cluster-'));
    const mount = cgroup2Mount();
    if (!mount) throw new Error('no cgroup v2 mount in /proc/self/mounts');
    this.cgroup = path.join(mount, `meshc-cluster-${this.id}`);
    process.once('exit', this.exitHook);
    this.controlPlane = new ControlPlane({ dir: this.dir, ...options.controlPlane });
    this.network = new ClusterNetwork(this.id, this.controlPlane.serviceCIDR);
  }

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    let cluster: TestCluster | undefined;
    try {
      cluster = new TestCluster(options);
      await cluster.boot();
      return cluster;
    } catch (error) {
      await cluster?.dispose(true);
      throw error;
    }
  }

  private async boot(): Promise<void> {
    const nodes = this.options.nodes ?? 3;
    mkdirSync(this.cgroup);
    await this.controlPlane.start();
    for (let i = 1; i <= nodes; i++) {
      const node = this.network.addNode(i);
      const cgroup = path.join(this.cgroup, node.name);
      mkdirSync(cgroup);
      this.nodeCgroups.set(node.name, cgroup);
      await this.controlPlane.create({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: node.name, labels: { 'kubernetes.io/hostname': node.name, 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/zone': `zone-${i}` } },
        spec: { podCIDR: node.podCIDR, podCIDRs: [node.podCIDR] },
      });
      await this.controlPlane.admin.mergePatch(`/api/v1/nodes/${node.name}/status`, {
        status: { addresses: [{ type: 'InternalIP', address: node.address }, { type: 'Hostname', address: node.name }], conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'the test harness plays kubelet', lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] },
      });
    }
    this.kubelet = new Kubelet(this.controlPlane.admin, this.network, this.nodeCgroups, { drainMs: this.options.drainMs ?? 1500, log: this.options.log });
    await this.kubelet.start();
    if (this.options.agents ?? true) {
      const kubeconfig = await this.controlPlane.serviceAccountKubeconfig('meshc-system', 'meshc-agent');
      for (const [node, cgroup] of this.nodeCgroups) this.agents.set(node, new NodeAgent(node, cgroup, kubeconfig));
      await Promise.all([...this.agents.values()].map((a) => a.start()));
    }
  }

  agent(node: string): NodeAgent {
    const agent = this.agents.get(node);
    if (!agent) throw new Error(`no agent on ${node}`);
    return agent;
  }

  /** Creates a Pod (one container serving `ports`) on `node`, and waits until it is Ready. */
  async runPod(namespace: string, name: string, options: { node?: string; labels?: Record<string, string>; ports?: number[]; annotations?: Record<string, string> } = {}): Promise<any> {
    await this.controlPlane.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels: options.labels ?? {}, annotations: options.annotations ?? {} },
      spec: {
        nodeName: options.node,
        terminationGracePeriodSeconds: 5,
        containers: [{ name: 'server', image: 'meshc.test/pod-server', ports: (options.ports ?? [8080]).map((p) => ({ containerPort: p, protocol: 'TCP' })) }],
      },
    });
    return this.waitForPod(namespace, name, (pod) => pod.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'), 'Ready');
  }

  async waitForPod(namespace: string, name: string, predicate: (pod: any) => boolean, what: string, timeoutMs = 20000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    let pod: any;
    for (;;) {
      pod = await this.controlPlane.admin.get(`/api/v1/namespaces/${namespace}/pods/${name}`).catch(() => undefined);
      if (pod && predicate(pod)) return pod;
      if (Date.now() > deadline) throw new Error(`pod ${namespace}/${name}: not ${what} after ${timeoutMs} ms (kubelet: ${this.kubelet.errors.join('; ') || 'no errors'}); status ${JSON.stringify(pod?.status)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * A client (test/agent/live/client.mjs) in Pod `namespace/name`: `count` connections to
   * host:port one after another (0: until its stdin closes), one record each.
   */
  client(namespace: string, name: string, host: string, port: number, count: number) {
    const child = this.kubelet.exec(namespace, name, [process.execPath, CLIENT, 'tcp', host, String(port), String(count)]);
    const records: ConnectionRecord[] = [];
    let buffered = '';
    child.stdout!.on('data', (d) => {
      buffered += d;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        records.push(JSON.parse(buffered.slice(0, nl)));
        buffered = buffered.slice(nl + 1);
      }
    });
    const done = new Promise<ConnectionRecord[]>((resolve) => child.once('exit', () => resolve(records)));
    return { child, records, done, stop: () => (child.stdin!.end(), done) };
  }

  /** `count` connections from Pod `namespace/name` to host:port. */
  connections(namespace: string, name: string, host: string, port: number, count: number): Promise<ConnectionRecord[]> {
    const c = this.client(namespace, name, host, port, count);
    c.child.stdin!.end();
    return c.done;
  }

  /** Removes everything; `failed` keeps the directory when MESHC_CLUSTER_KEEP=1. Safe to call twice. */
  async dispose(failed = false): Promise<void> {
    await Promise.allSettled([...this.agents.values()].map((a) => a.dispose()));
    await this.kubelet?.stop().catch(() => {});
    await this.controlPlane.stop().catch(() => {});
    this.network?.dispose();
    removeCgroup(this.cgroup);
    process.removeListener('exit', this.exitHook);
    if (failed && process.env.MESHC_CLUSTER_KEEP === '1') console.log(`test cluster ${this.id}: kept ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  /** What an exiting process can still do synchronously: kill, detach nothing, remove namespaces and cgroups. */
  private disposeSync(): void {
    for (const pid of this.controlPlane.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    for (const a of this.agents.values()) a.signal('SIGKILL');
    this.network?.dispose();
    removeCgroup(this.cgroup);
  }
}
