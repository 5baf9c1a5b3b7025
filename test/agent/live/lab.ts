// A lab for the agent's end-to-end tests: a network namespace with pod addresses and servers,
// a cgroup to route, and a bpffs pin directory, all of the test's own, removed in dispose() even
// when the test failed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { CGROUP_ROOT, makePinDir } from '../../kernel/env.ts';
import { runMeshc, spawnMeshc } from '../../helpers/meshc.ts';

const LIVE = fileURLToPath(new URL('.', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface ConnectionRecord {
  t0: string;
  t1: string;
  backend?: string;
  peer?: string;
  error?: string;
}

/** Runs a command; throws with its stderr when it fails. */
export function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
}

export class Lab {
  readonly id = randomBytes(3).toString('hex');
  readonly netns = `meshc-e2e-${this.id}`;
  readonly cgroup = path.join(CGROUP_ROOT, `meshc-e2e-${this.id}`);
  readonly pin: string;
  readonly dir: string;
  readonly manifests: string;
  private readonly children: ChildProcess[] = [];

  constructor(readonly pods: string[], readonly vips: string[]) {
    this.pin = makePinDir('e2e');
    this.dir = mkdtempSync(path.join(tmpdir(), 'meshc-e2e-'));
    this.manifests = path.join(this.dir, 'manifests');
    mkdirSync(this.manifests);
    mkdirSync(this.cgroup);
    run('ip', ['netns', 'add', this.netns]);
    run('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
    for (const ip of [...pods, ...vips]) run('ip', ['-n', this.netns, 'addr', 'add', `${ip}/32`, 'dev', 'lo']);
  }

  /** Starts the pod servers inside the netns (not in the routed cgroup). */
  async startPods(): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', this.netns, process.execPath, path.join(LIVE, 'pods.mjs'), ...this.pods, '--vips', ...this.vips], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`pod servers exited with ${code}`)));
    });
  }

  write(file: string, text: string): void {
    const target = path.join(this.manifests, file);
    writeFileSync(`${target}.tmp`, text);
    spawnSync('mv', [`${target}.tmp`, target]);
  }

  /** Runs the meshc CLI (synchronously). */
  meshc(...args: string[]) {
    return runMeshc(args);
  }

  /**
   * Starts `meshc agent` on the lab (by default `--manifests` on the lab's directory with
   * `--watch`), resolving once it logs `ready` (by default: it watches for changes). `prefix`
   * runs it under another command (setpriv, to drop capabilities).
   */
  async startAgent(source: string[] = ['--manifests', this.manifests, '--watch'], options: { prefix?: string[]; extra?: string[]; ready?: RegExp } = {}): Promise<ChildProcess> {
    const args = ['agent', ...source, '--cgroup', this.cgroup, '--pin', this.pin, '--node', 'node-1', ...(options.extra ?? [])];
    const child = spawnMeshc(args, { prefix: options.prefix, stdio: ['ignore', 'ignore', 'pipe'] });
    this.children.push(child);
    const lines = createInterface({ input: child.stderr! });
    const log: string[] = [];
    (child as ChildProcess & { log: string[] }).log = log;
    const ready = options.ready ?? /agent: watching/;
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        log.push(line);
        if (ready.test(line)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`agent exited with ${code}: ${log.join('\n')}`)));
    });
    return child;
  }

  /** How many lines the agent has logged so far (a mark for agentLogs). */
  logMark(child: ChildProcess): number {
    return (child as ChildProcess & { log: string[] }).log.length;
  }

  /** Waits until the agent logs a line matching `pattern`, after line `since`. */
  async agentLogs(child: ChildProcess, pattern: RegExp, since: number, timeoutMs = 10000): Promise<string> {
    const log = (child as ChildProcess & { log: string[] }).log;
    const deadline = Date.now() + timeoutMs;
    const start = since;
    while (Date.now() < deadline) {
      const hit = log.slice(start).find((l) => pattern.test(l));
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`agent did not log ${pattern} within ${timeoutMs} ms; log:\n${log.join('\n')}`);
  }

  /**
   * Starts a client in the netns and in the routed cgroup (or in `cgroup`, a directory below it;
   * `false` runs it outside any cgroup of the lab).
   */
  client(args: string[], inCgroup: boolean | string = true): ChildProcess & { records: ConnectionRecord[]; done: Promise<ConnectionRecord[]> } {
    const exec = `exec ip netns exec ${this.netns} ${process.execPath} ${path.join(LIVE, 'client.mjs')} ${args.join(' ')}`;
    const cgroup = inCgroup === true ? this.cgroup : inCgroup;
    const script = cgroup ? `echo $$ > ${cgroup}/cgroup.procs && ${exec}` : exec;
    const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] }) as ChildProcess & { records: ConnectionRecord[]; done: Promise<ConnectionRecord[]> };
    this.children.push(child);
    child.records = [];
    // A client killed while writing leaves a last line cut short: only that one may fail to parse.
    let cut: string | undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (cut !== undefined) throw new Error(`client wrote after a line that is not JSON: ${cut}`);
      try {
        child.records.push(JSON.parse(line));
      } catch {
        cut = line;
      }
    });
    child.done = new Promise((resolve) => child.once('exit', () => resolve(child.records)));
    return child;
  }

  async connections(host: string, port: number, count: number, inCgroup = true): Promise<ConnectionRecord[]> {
    const c = this.client(['tcp', host, String(port), String(count)], inCgroup);
    c.stdin!.end();
    return c.done;
  }

  async connectionsFrom(cgroup: string, host: string, port: number, count: number): Promise<ConnectionRecord[]> {
    const c = this.client(['tcp', host, String(port), String(count)], cgroup);
    c.stdin!.end();
    return c.done;
  }

  /** Removes everything the lab made. Safe to call more than once. */
  dispose(): void {
    for (const child of this.children) if (child.exitCode === null) child.kill('SIGKILL');
    runMeshc(['agent', '--detach', '--pin', this.pin]);
    spawnSync('ip', ['netns', 'del', this.netns]);
    removeCgroupTree(this.cgroup);
    rmSync(this.pin, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function serviceManifest(name: string, vip: string, endpoints: { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean }[], spec: Record<string, unknown> = {}): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec: ${JSON.stringify({ clusterIP: vip, ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }], ...spec })}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: default, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }, { name: dns, port: 5353, protocol: UDP }]
endpoints: ${JSON.stringify(endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false } })))}
`;
}

/** Polls `predicate` until it holds; fails after `timeoutMs`. */
export async function until(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A set of backends in force from `start` (when it was asked for) to `end` (when it was seen applied). */
export interface Change {
  start: bigint;
  end: bigint;
  set: Set<string>;
}

/** The backends a connection made between t0 and t1 may reach: every set in force meanwhile. */
export function allowedDuring(changes: Change[], t0: bigint, t1: bigint): Set<string> {
  const allowed = new Set<string>();
  for (let k = 0; k < changes.length; k++) {
    const from = k === 0 ? -1n : changes[k]!.start;
    const until = k + 1 < changes.length ? changes[k + 1]!.end : BigInt(Number.MAX_SAFE_INTEGER) * 1000n;
    if (from <= t1 && until >= t0) for (const ip of changes[k]!.set) allowed.add(ip);
  }
  return allowed;
}

/** Connections that failed, and those that reached a backend outside the sets in force. */
export function judge(records: ConnectionRecord[], changes: Change[]): { failed: ConnectionRecord[]; misrouted: ConnectionRecord[] } {
  return {
    failed: records.filter((r) => r.error),
    misrouted: records.filter((r) => !r.error && !allowedDuring(changes, BigInt(r.t0), BigInt(r.t1)).has(r.backend!)),
  };
}

/**
 * Stops the looping clients after `settleMs` and asserts what every end-to-end test of the agent
 * asserts: more than `atLeast` connections, none failed, none reached a backend outside the sets
 * in force. Returns the records for the test's own checks.
 */
export async function endClients(clients: { stdin: ChildProcess['stdin']; done: Promise<ConnectionRecord[]> }[], changes: Change[], atLeast: number, settleMs = 300): Promise<ConnectionRecord[]> {
  await new Promise((r) => setTimeout(r, settleMs));
  for (const c of clients) c.stdin!.end();
  const records = (await Promise.all(clients.map((c) => c.done))).flat();
  const { failed, misrouted } = judge(records, changes);
  assert.ok(records.length > atLeast, `only ${records.length} connections`);
  assert.equal(failed.slice(0, 3), [], `${failed.length} of ${records.length} connections failed`);
  assert.equal(misrouted.slice(0, 3), [], `${misrouted.length} of ${records.length} reached a backend outside the sets in force`);
  return records;
}

export function tally(records: ConnectionRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of records) {
    const key = r.error ? `error:${r.error}` : r.backend!;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Kills what is left in a cgroup tree of ours and removes it, deepest first. */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name));
  }
  for (let i = 0; i < 50 && existsSync(dir); i++) {
    try {
      const procs = readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim();
      for (const pid of procs.split('\n').filter(Boolean)) spawnSync('kill', ['-9', pid]);
      rmdirSync(dir);
    } catch {
      spawnSync('sleep', ['0.1']);
    }
  }
}
