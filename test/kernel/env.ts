// Preconditions of the kernel tests, the skip-or-fail rule and their pin directories.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CGROUP2_ROOT, isBpffs, isNativeAvailable, mountBpffs, NATIVE_ADDON_MISSING } from '../../src/loader/index.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The cgroup v2 mount, found in /proc/self/mounts. */
export const CGROUP_ROOT = CGROUP2_ROOT;
export const BPFFS = '/sys/fs/bpf';

/**
 * Every command the tests run, with the Debian package that has it. .ci/run installs each of
 * these packages (test/ci/tools.test.ts holds it to that, and finds the commands tests spawn).
 */
export const TEST_TOOLS = {
  'clang-19': 'clang-19',
  'llvm-objdump-19': 'llvm-19',
  ip: 'iproute2',
  unshare: 'util-linux',
  setpriv: 'util-linux',
  nsenter: 'util-linux',
  kubectl: 'kubectl',
  haproxy: 'haproxy',
  chromium: 'chromium',
  gcc: 'gcc',
  sh: 'dash',
  mv: 'coreutils',
  sleep: 'coreutils',
  kill: 'procps',
  openssl: 'openssl',
  bash: 'bash',
  // test/tunnel: the capture on the bridge between node namespaces.
  tcpdump: 'tcpdump',
} as const;

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why clang-19 cannot compile BPF C here, or undefined (compiling needs no root). */
export function clangSkipReason(): string | undefined {
  return which('clang-19') ? undefined : 'needs clang-19 (apt-get install -y clang-19)';
}

/** Why the kernel tests cannot run here, or undefined. */
export function kernelSkipReason(needs: { cgroup?: boolean; netns?: boolean } = {}): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (BPF, bpffs, cgroups)';
  const noClang = clangSkipReason();
  if (noClang) return noClang;
  if (!isNativeAvailable()) return NATIVE_ADDON_MISSING;
  if (needs.cgroup && !existsSync(path.join(CGROUP_ROOT, 'cgroup.procs'))) return `needs cgroup v2 at ${CGROUP_ROOT}`;
  if (needs.netns && !which('ip')) return 'needs iproute2 (ip netns)';
  return undefined;
}

/** Registers a suite, or a skip with the reason (a failing test when MESHC_REQUIRE_KERNEL=1). */
export function kernelSuite(name: string, reason: string | undefined, define: (s: ReturnType<typeof suite>) => void): void {
  const s = suite(name);
  if (reason === undefined) {
    define(s);
  } else if (process.env.MESHC_REQUIRE_KERNEL === '1') {
    s('kernel tests are required (MESHC_REQUIRE_KERNEL=1)', () => {
      assert.unreachable(`cannot run: ${reason}`);
    });
  } else {
    console.log(`skip ${name}: ${reason}`);
  }
  s.run();
}

/** A fresh directory of ours in bpffs (mounting bpffs at /sys/fs/bpf when it is absent). */
export function makePinDir(label: string): string {
  if (!existsSync(BPFFS)) mkdirSync(BPFFS, { recursive: true });
  if (!isBpffs(BPFFS)) mountBpffs(BPFFS);
  const dir = path.join(BPFFS, `meshc-test-${label}-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir);
  return dir;
}

export function removePinDir(dir: string): void {
  if (dir.startsWith(`${BPFFS}/meshc-test-`)) rmSync(dir, { recursive: true, force: true });
}
