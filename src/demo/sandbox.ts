// The demo's own corner of the machine: a network namespace with the service and pod addresses on
// its loopback, a cgroup whose processes get routed, a bpffs pin directory and a temp directory,
// all with one random name. Nothing outside them is touched, and cleanup() removes all of them
// (so does an 'exit' listener, should the process end without calling it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CGROUP2_ROOT, detach } from '../agent/agent.ts';
import { isBpffs, mountBpffs } from '../loader/index.ts';

export const BPFFS = '/sys/fs/bpf';

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function run(command: string, args: string[]): void {
  const res = spawnSync(command, args, { encoding: 'utf8' });
  if (res.error) throw new Error(`${command} ${args.join(' ')}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${res.stderr.trim() || `exit status ${res.status}`}`);
}

export interface SandboxOptions {
  /** Prefix of every name (default "meshc-demo"): netns, cgroup, pin directory, temp directory. */
  prefix?: string;
  cgroupRoot?: string;
}

export class Sandbox {
  readonly name: string;
  readonly netns: string;
  readonly cgroup: string;
  readonly pin: string;
  readonly tmp: string;
  private readonly children = new Set<ChildProcess>();
  private created = { netns: false, cgroup: false };
  private cleaned = false;
  /** Last resort: a process that exits without cleanup() (an uncaught error) still cleans up. */
  private readonly onExit = () => this.cleanupSync();

  constructor(options: SandboxOptions = {}) {
    this.name = `${options.prefix ?? 'meshc-demo'}-${randomBytes(4).toString('hex')}`;
    this.netns = this.name;
    this.cgroup = join(options.cgroupRoot ?? CGROUP2_ROOT, this.name);
    this.pin = join(BPFFS, this.name);
    this.tmp = mkdtempSync(join(tmpdir(), `${this.name}-`));
    process.once('exit', this.onExit);
  }

  /** Makes the namespace (loopback up, `addresses` on it as /32s), the cgroup and the pin dir. */
  create(addresses: string[]): void {
    run('ip', ['netns', 'add', this.netns]);
    this.created.netns = true;
    run('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
    for (const address of addresses) run('ip', ['-n', this.netns, 'addr', 'add', `${address}/32`, 'dev', 'lo']);
    mkdirSync(this.cgroup);
    this.created.cgroup = true;
    if (!existsSync(BPFFS)) mkdirSync(BPFFS, { recursive: true });
    if (!isBpffs(BPFFS)) mountBpffs(BPFFS);
    mkdirSync(this.pin);
  }

  /** A process inside the namespace (not in the cgroup: it is not routed), e.g. the pods. */
  spawnInNetns(command: string, args: string[]): ChildProcess {
    return this.track(spawn('ip', ['netns', 'exec', this.netns, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  /**
   * A process in the cgroup and the namespace: the routed client. It joins the cgroup first,
   * because `ip netns exec` remounts /sys and the cgroup2 mount is not visible inside.
   */
  spawnClient(command: string, args: string[]): ChildProcess {
    const script = `echo $$ > ${shellQuote(join(this.cgroup, 'cgroup.procs'))} && exec ip netns exec ${shellQuote(this.netns)} ${[command, ...args].map(shellQuote).join(' ')}`;
    return this.track(spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  private track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Whether anything of this sandbox is left on the machine. */
  leftovers(): string[] {
    const left: string[] = [];
    const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    if (namespaces.split('\n').some((line) => line.split(' ')[0] === this.netns)) left.push(`netns ${this.netns}`);
    if (existsSync(this.cgroup)) left.push(`cgroup ${this.cgroup}`);
    if (existsSync(this.pin)) left.push(`pin directory ${this.pin}`);
    if (existsSync(this.tmp)) left.push(`temp directory ${this.tmp}`);
    return left;
  }

  /**
   * Removes everything, each step on its own so that one failure does not keep the rest: the
   * processes it started (waiting for them to exit), the hooks and pinned maps, the namespace,
   * the cgroup, the temp files. Returns what could not be removed. Safe to call more than once.
   */
  async cleanup(log: (line: string) => void = () => {}): Promise<string[]> {
    const exits = [...this.children].map((child) => new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      const timer = setTimeout(done, 3000);
      child.once('exit', () => {
        clearTimeout(timer);
        done();
      });
      child.kill('SIGKILL');
    }));
    await Promise.all(exits);
    return this.cleanupSync(log);
  }

  /** cleanup() without waiting for children to be reaped: for process 'exit' listeners. */
  cleanupSync(log: (line: string) => void = () => {}): string[] {
    if (this.cleaned) return this.leftovers().map((left) => `${left} is still there`);
    this.cleaned = true;
    process.off('exit', this.onExit);
    const errors: string[] = [];
    const step = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (error) {
        errors.push(`${what}: ${(error as Error).message}`);
      }
    };
    for (const child of this.children) step(`kill ${child.pid}`, () => child.kill('SIGKILL'));
    step('detach', () => {
      if (!existsSync(this.pin)) return;
      detach(this.pin, log);
      if (existsSync(this.pin)) rmSync(this.pin, { recursive: true, force: true });
    });
    if (this.created.cgroup) {
      step(`cgroup ${this.cgroup}`, () => {
        const procs = join(this.cgroup, 'cgroup.procs');
        // A process left in the cgroup (a client's own children) is killed; wait up to 5 s.
        for (let i = 0; i < 100 && existsSync(procs) && readFileSync(procs, 'utf8').trim() !== ''; i++) {
          for (const pid of readFileSync(procs, 'utf8').split('\n').filter(Boolean)) {
            try {
              process.kill(Number(pid), 'SIGKILL');
            } catch {
              // already gone
            }
          }
          sleepSync(50);
        }
        if (existsSync(this.cgroup)) rmdirSync(this.cgroup);
      });
    }
    if (this.created.netns) step(`netns ${this.netns}`, () => run('ip', ['netns', 'del', this.netns]));
    step(`temp ${this.tmp}`, () => rmSync(this.tmp, { recursive: true, force: true }));
    return [...errors, ...this.leftovers().map((left) => `${left} is still there`)];
  }
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Sandboxes with this prefix that exist now (netns names, cgroups, pin directories). */
export function existingWithPrefix(prefix: string, cgroupRoot = CGROUP2_ROOT): string[] {
  const found: string[] = [];
  const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of namespaces.split('\n')) if (line.startsWith(`${prefix}-`)) found.push(`netns ${line.split(' ')[0]}`);
  if (existsSync(cgroupRoot)) for (const name of readdirSync(cgroupRoot)) if (name.startsWith(`${prefix}-`)) found.push(`cgroup ${join(cgroupRoot, name)}`);
  if (existsSync(BPFFS)) for (const name of readdirSync(BPFFS)) if (name.startsWith(`${prefix}-`)) found.push(`pin ${join(BPFFS, name)}`);
  return found;
}
