// Preconditions of the kernel tests, the skip-or-fail rule, and the policy C they compile: the
// generator's output when src/compiler can produce it, else the hand-written stand-in in
// standin/policy.c (said loudly, since then the differential test checks the stand-in).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isBpffs, isNativeAvailable, mountBpffs, NATIVE_ADDON_MISSING } from '../../src/loader/index.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CGROUP_ROOT = '/sys/fs/cgroup/unified';
export const BPFFS = '/sys/fs/bpf';
export const STANDIN_POLICY = fileURLToPath(new URL('./standin/policy.c', import.meta.url));

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
  kubectl: 'kubectl',
  chromium: 'chromium',
  gcc: 'gcc',
  sh: 'dash',
  mv: 'coreutils',
  sleep: 'coreutils',
  kill: 'procps',
} as const;

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why the kernel tests cannot run here, or undefined. */
export function kernelSkipReason(needs: { cgroup?: boolean; netns?: boolean } = {}): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (BPF, bpffs, cgroups)';
  if (!which('clang-19')) return 'needs clang-19 (apt-get install -y clang-19)';
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

/** Whether the generator (src/compiler/index.ts with generateC) is present. */
export async function generatorAvailable(): Promise<boolean> {
  const file = path.join(ROOT, 'src', 'compiler', 'index.ts');
  if (!existsSync(file)) return false;
  const mod = (await import(file)) as { generateC?: unknown };
  return typeof mod.generateC === 'function';
}

/**
 * The policy C for compilePolicy(): undefined (use the generator) when it is there, else the
 * stand-in, unless MESHC_REQUIRE_GENERATOR=1 makes its absence a failure.
 */
export async function policyCOverride(): Promise<string | undefined> {
  if (await generatorAvailable()) return undefined;
  if (process.env.MESHC_REQUIRE_GENERATOR === '1') throw new Error('src/compiler generateC() is required (MESHC_REQUIRE_GENERATOR=1)');
  console.log('test/kernel: src/compiler has no generateC() yet: compiling the hand-written stand-in test/kernel/standin/policy.c');
  return readFileSync(STANDIN_POLICY, 'utf8');
}
