// What the bench needs from the machine (Debian packages and gcc), and the two C programs it
// builds at bench time: the fixed-rate load generator and the connect() timer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, which } from './lab.ts';

const LIB = path.dirname(fileURLToPath(import.meta.url));
export const WRK_SCRIPT = path.join(LIB, 'wrk-report.lua');

/**
 * Every command the bench runs, with the Debian package that has it. .ci/run installs each of
 * these packages (test/ci/tools.test.ts holds it to that).
 */
export const BENCH_TOOLS = {
  wrk: 'wrk',
  haproxy: 'haproxy',
  nginx: 'nginx-light',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  gcc: 'gcc',
  bpftool: 'bpftool',
  taskset: 'util-linux',
  chrt: 'util-linux',
  nsenter: 'util-linux',
  ip: 'iproute2',
  sysctl: 'procps',
  chromium: 'chromium',
  // bench/control-plane.ts's real control plane (test/cluster): certificates, deploy/'s RBAC.
  openssl: 'openssl',
  kubectl: 'kubectl',
  // bench/tunnel.ts's lab (test/tunnel/lab.ts) captures on the bridge.
  tcpdump: 'tcpdump',
} as const;
export type BenchTool = keyof typeof BENCH_TOOLS;

/** What the live suites (namespaces, proxies, load) need beyond the kernel tests' own tools. */
export const LIVE_TOOLS: BenchTool[] = ['wrk', 'nginx', 'haproxy', 'iptables-restore', 'gcc', 'bpftool', 'taskset', 'chrt', 'ip'];

/** Commands that are missing, with the Debian package that has each. */
export function missingTools(names: readonly BenchTool[] = LIVE_TOOLS): string[] {
  return names.filter((n) => !which(n)).map((n) => `${n} (apt-get install -y ${BENCH_TOOLS[n]})`);
}

export interface Tools {
  dir: string;
  loadgen: string;
  connectbench: string;
}

/** Compiles bench/lib/loadgen.c and connectbench.c with gcc -O2 into a temp directory. */
export function buildTools(): Tools {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-tools-'));
  const build = (name: string) => {
    const out = path.join(dir, name);
    run('gcc', ['-O2', '-Wall', '-o', out, path.join(LIB, `${name}.c`)]);
    return out;
  };
  return { dir, loadgen: build('loadgen'), connectbench: build('connectbench') };
}

/** Versions of the programs the figures depend on (first line of stdout or stderr), for the conditions. */
export function versions(): Record<string, string> {
  const first = (cmd: string, args: string[]) => {
    const res = spawnSync(cmd, args, { encoding: 'utf8' });
    return `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n')[0]!.trim() || `${cmd}: not found`;
  };
  return {
    wrk: first('wrk', ['-v']),
    nginx: first('nginx', ['-v']),
    haproxy: first('haproxy', ['-v']),
    iptables: first('iptables', ['-V']),
    gcc: first('gcc', ['--version']),
    bpftool: first('bpftool', ['--version']),
  };
}
