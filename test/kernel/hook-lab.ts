// Pieces the hook tests share (test/kernel/connect.test.ts, test/netpol/connect.test.ts): `ip`
// that throws with its stderr, per-CPU counters summed, a child's stdout line by line, and the
// teardown of what such a test made (children, links, object, pins, cgroup, netns, build dir).
import { spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { possibleCpus, type BpfLink, type BpfObject } from '../../src/loader/index.ts';
import { CGROUP_ROOT, removePinDir } from './env.ts';

/** Runs `ip ARGS`; throws with its stderr when it fails. */
export function ip(args: string[]): void {
  const res = spawnSync('ip', args, { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`ip ${args.join(' ')}: ${res.stderr.trim()}`);
}

/** Slot `index` of a per-CPU array of u64 counters, summed over the CPUs. */
export function perCpuSum(obj: BpfObject, mapName: string, index: number): number {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index);
  const value = obj.map(mapName).lookup(key)!;
  let sum = 0;
  for (let cpu = 0; cpu < possibleCpus(); cpu++) sum += Number(value.readBigUInt64LE(cpu * 8));
  return sum;
}

/** Lines of a child's stdout, one promise per expected line (10 s each, then the child's stderr). */
export function lineReader(child: ChildProcessWithoutNullStreams): () => Promise<string> {
  const queue: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  return () =>
    new Promise((resolve, reject) => {
      const line = queue.shift();
      if (line !== undefined) return resolve(line);
      const timer = setTimeout(() => reject(new Error(`no output from child; stderr: ${stderr}`)), 10000);
      waiters.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
}

/** What a hook test made, to be removed whatever happened. */
export interface HookLab {
  children: ChildProcessWithoutNullStreams[];
  links: BpfLink[];
  obj?: BpfObject;
  pins: string;
  cgroup: string;
  netns: string;
  netnsMade: boolean;
  buildDir: string;
}

/** Kills the children, detaches, closes, unpins, empties and removes the cgroup, the netns and the build dir. */
export async function disposeHookLab(lab: HookLab): Promise<void> {
  for (const child of lab.children) child.kill('SIGKILL');
  await Promise.all(lab.children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  for (const link of lab.links) link.detach();
  lab.obj?.close();
  if (lab.pins) removePinDir(lab.pins);
  if (existsSync(lab.cgroup)) {
    // Leftover members (none expected) go back to the parent cgroup first.
    for (const pid of readFileSync(path.join(lab.cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      writeFileSync(path.join(CGROUP_ROOT, 'cgroup.procs'), pid);
    }
    rmdirSync(lab.cgroup);
  }
  if (lab.netnsMade) spawnSync('ip', ['netns', 'del', lab.netns]);
  if (lab.buildDir) rmSync(lab.buildDir, { recursive: true, force: true });
}
