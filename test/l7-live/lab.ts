// The live L7 topology: a node network namespace (the agent and its HAProxy) joined by a veth
// to a pod network namespace (backend pod addresses with echo servers, and a client in the
// routed cgroup). All of it the test's own, with names unique to this process, removed in
// dispose() even when the test failed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CGROUP_ROOT, makePinDir } from '../kernel/env.ts';
import { MESHC_BIN, runMeshc } from '../helpers/meshc.ts';
import { removeCgroupTree, run } from '../agent/live/lab.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
export const NODE_IP = '172.31.250.1';
const POD_GW = '172.31.250.2';

export interface Echo {
  address: string;
  remote: string;
  method: string;
  url: string;
  headers: [string, string][];
}

export interface Answer {
  conn: number;
  i: number;
  status?: number;
  location?: string;
  body?: Echo | null;
  local?: number;
  peer?: string;
  error?: string;
}

export interface Request {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
}


export class L7Lab {
  readonly id = randomBytes(3).toString('hex');
  readonly nodeNs = `meshc-l7n-${this.id}`;
  readonly podNs = `meshc-l7p-${this.id}`;
  readonly cgroup = path.join(CGROUP_ROOT, `meshc-l7-${this.id}`);
  readonly pin: string;
  readonly dir: string;
  readonly manifests: string;
  private readonly children: ChildProcess[] = [];
  agent: (ChildProcess & { log: string[] }) | undefined;
  /** Every agent's log: the node proxy directories they made are removed in dispose(). */
  private readonly logs: string[][] = [];

  constructor(readonly pods: string[]) {
    this.pin = makePinDir('l7');
    this.dir = mkdtempSync(path.join(tmpdir(), 'meshc-l7-'));
    this.manifests = path.join(this.dir, 'manifests');
    mkdirSync(this.manifests);
    mkdirSync(this.cgroup);
    run('ip', ['netns', 'add', this.nodeNs]);
    run('ip', ['netns', 'add', this.podNs]);
    const [a, b] = [`l7n${this.id}`, `l7p${this.id}`];
    run('ip', ['link', 'add', a, 'netns', this.nodeNs, 'type', 'veth', 'peer', 'name', b, 'netns', this.podNs]);
    for (const ns of [this.nodeNs, this.podNs]) run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', this.nodeNs, 'addr', 'add', `${NODE_IP}/24`, 'dev', a]);
    run('ip', ['-n', this.podNs, 'addr', 'add', `${POD_GW}/24`, 'dev', b]);
    run('ip', ['-n', this.nodeNs, 'link', 'set', a, 'up']);
    run('ip', ['-n', this.podNs, 'link', 'set', b, 'up']);
    for (const ip of pods) run('ip', ['-n', this.podNs, 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
    // The node reaches the pods over the veth.
    run('ip', ['-n', this.nodeNs, 'route', 'add', '10.244.0.0/16', 'via', POD_GW]);
  }

  /** Echo servers on every pod address, port 8080, in the pod namespace (outside the routed cgroup). */
  async startPods(): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', this.podNs, process.execPath, path.join(HERE, 'servers.mjs'), ...this.pods.map((ip) => `${ip}:8080`)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`echo servers exited with ${code}`)));
    });
  }

  write(file: string, text: string): void {
    const target = path.join(this.manifests, file);
    writeFileSync(`${target}.tmp`, text);
    renameSync(`${target}.tmp`, target);
  }

  /**
   * `meshc agent --watch` in the node namespace (nsenter: only the network namespace changes,
   * so the cgroup and bpffs mounts stay the host's), resolved when it watches.
   */
  async startAgent(extra: string[] = []): Promise<ChildProcess & { log: string[] }> {
    const args = ['--net=/run/netns/' + this.nodeNs, process.execPath, MESHC_BIN, 'agent', '--manifests', this.manifests, '--watch', '--cgroup', this.cgroup, '--pin', this.pin, '--node', 'node-1', '--node-ip', NODE_IP, ...extra];
    const child = spawn('nsenter', args, { stdio: ['ignore', 'ignore', 'pipe'] }) as ChildProcess & { log: string[] };
    this.children.push(child);
    child.log = [];
    this.logs.push(child.log);
    const lines = createInterface({ input: child.stderr! });
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        child.log.push(line);
        if (process.env.MESHC_L7_LOG) process.stderr.write(`${line}\n`);
        if (/agent: watching/.test(line)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`agent exited with ${code}: ${child.log.join('\n')}`)));
    });
    this.agent = child;
    return child;
  }

  /** Waits until the agent logs a line matching `pattern` at or after line `since`. */
  async agentLogs(pattern: RegExp, since = 0, timeoutMs = 15000): Promise<string> {
    const log = this.agent!.log;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = log.slice(since).find((l) => pattern.test(l));
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`agent did not log ${pattern} within ${timeoutMs} ms; log:\n${log.join('\n')}`);
  }

  get logMark(): number {
    return this.agent!.log.length;
  }

  /** Processes named `name` below `pid` (children of children). */
  descendants(pid: number, name: string): number[] {
    const found: number[] = [];
    const walk = (p: number) => {
      for (const task of safeList(`/proc/${p}/task`)) {
        for (const child of readFileSafe(`/proc/${p}/task/${task}/children`).split(' ').filter(Boolean).map(Number)) {
          if (readFileSafe(`/proc/${child}/comm`).trim() === name) found.push(child);
          walk(child);
        }
      }
    };
    walk(pid);
    return found;
  }

  /** Sends `connections` from a client in the pod namespace and the routed cgroup (or `cgroup`, below it). */
  async requests(connections: { host: string; port: number; fresh?: boolean; requests: Request[] }[], cgroup = this.cgroup): Promise<Answer[]> {
    const script = `echo $$ > ${cgroup}/cgroup.procs && exec ip netns exec ${this.podNs} ${process.execPath} ${path.join(HERE, 'client.mjs')}`;
    const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.children.push(child);
    const answers: Answer[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => answers.push(JSON.parse(line) as Answer));
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin!.end(JSON.stringify(connections));
    await done;
    return answers.sort((x, y) => x.conn - y.conn || x.i - y.i);
  }

  /** Removes everything the lab made. Safe to call more than once. */
  dispose(): void {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    // HAProxy was the agent's child: kill what is left in the node namespace.
    const pids = spawnSync('ip', ['netns', 'pids', this.nodeNs], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    for (const pid of pids) spawnSync('kill', ['-9', pid]);
    runMeshc(['agent', '--detach', '--pin', this.pin]);
    spawnSync('ip', ['netns', 'del', this.nodeNs]);
    spawnSync('ip', ['netns', 'del', this.podNs]);
    removeCgroupTree(this.cgroup);
    rmSync(this.pin, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
    // A killed agent leaves its node proxy directory behind.
    for (const line of this.logs.flat()) {
      const dir = /node proxy: .* files in (\/\S*meshc-proxy-\w+)$/.exec(line)?.[1];
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** A Service with a ClusterIP, port 80 -> 8080, and an EndpointSlice of `pods`. */
export function service(name: string, vip: string, pods: string[]): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec: { clusterIP: ${vip}, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: default, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints: ${JSON.stringify(pods.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } })))}
`;
}

