// Runs the meshc CLI for tests: in this process (main() with its output captured), or as a
// process of its own (bin/meshc.js) where a test needs one: signals, kill -9, dropped privileges,
// an agent that outlives a step.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';
import type { CommandIO } from '../../src/cli/io.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MESHC_BIN = path.join(ROOT, 'bin', 'meshc.js');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

function inRoot(): void {
  // Spawned meshc runs in ROOT; in-process it resolves relative paths against this process's cwd.
  if (path.resolve(process.cwd()) !== path.resolve(ROOT)) {
    throw new Error(`in-process meshc resolves paths against the working directory: run the tests from ${ROOT}, not ${process.cwd()}`);
  }
}

/** A command started in this process: its output so far, and a way to stop it. */
export interface RunningMeshc {
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout (or stderr), rejects when the command ends first. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<RegExpExecArray>;
  /** Stops it as SIGINT would, and resolves with its result. */
  stop(): Promise<CliResult>;
  /** Resolves when it ends on its own. */
  done: Promise<CliResult>;
}

/** Starts `meshc ARGS...` in this process. */
export function startMeshc(args: string[]): RunningMeshc {
  inRoot();
  const out = { stdout: '', stderr: '' };
  const waiters: (() => void)[] = [];
  const written = (stream: 'stdout' | 'stderr') => ({
    write(text: string) {
      out[stream] += text;
      for (const w of [...waiters]) w();
      return true;
    },
  });
  const abort = new AbortController();
  const io: CommandIO = { stdout: written('stdout'), stderr: written('stderr'), signal: abort.signal };
  let ended = false;
  const done = main(args, io).then((status) => {
    ended = true;
    for (const w of [...waiters]) w();
    return { status, ...out };
  });
  return {
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    waitFor(pattern, stream = 'stdout') {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(out[stream]);
          if (!match && !ended) return;
          waiters.splice(waiters.indexOf(check), 1);
          if (match) resolve(match);
          else reject(new Error(`meshc ${args.join(' ')} ended without ${pattern} on ${stream}:\n${out.stdout}${out.stderr}`));
        };
        waiters.push(check);
        check();
      });
    },
    stop() {
      abort.abort();
      return done;
    },
    done,
  };
}

/** Runs `meshc ARGS...` in this process to its end. */
export function callMeshc(...args: string[]): Promise<CliResult> {
  return startMeshc(args).done;
}

export interface MeshcProcessOptions {
  /** Runs meshc under this command (e.g. setpriv, to drop privileges). */
  prefix?: string[];
  cwd?: string;
  timeout?: number;
  maxBuffer?: number;
}

function argv(args: string[], prefix: string[] = []): [string, string[]] {
  const all = [...prefix, process.execPath, MESHC_BIN, ...args];
  return [all[0]!, all.slice(1)];
}

/** Runs `bin/meshc.js ARGS...` as a process of its own, in ROOT (or `cwd`), and waits for it. */
export function runMeshc(args: string[], options: MeshcProcessOptions = {}): CliResult {
  const [file, rest] = argv(args, options.prefix);
  const r = spawnSync(file, rest, { cwd: options.cwd ?? ROOT, encoding: 'utf8', timeout: options.timeout, maxBuffer: options.maxBuffer });
  // Killed by a signal, timed out or not started: status -1, and why at the end of stderr.
  const why = r.error ? `\n${r.error.message}` : r.signal ? `\nkilled by ${r.signal}` : '';
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + why };
}

/** Starts `bin/meshc.js ARGS...` as a process of its own, in ROOT. */
export function spawnMeshc(args: string[], options: SpawnOptions & { prefix?: string[] } = {}): ChildProcess {
  const { prefix, ...spawnOptions } = options;
  const [file, rest] = argv(args, prefix);
  return spawn(file, rest, { cwd: ROOT, ...spawnOptions });
}
