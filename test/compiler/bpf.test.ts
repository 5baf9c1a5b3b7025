// The generated C for the built-in policy and for the example user policy, wrapped in a small
// SEC("syscall") program that calls mc_decide, compiles with clang-19 for BPF; as root, the
// kernel's verifier also accepts it. Each glue header and entry file of bpf/ compiles on its own
// over the generated meshc_policy.h.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GLUE_FILES, GLUE_HEADERS, includeDirs, POLICY_HEADER } from '../../src/build/compile.ts';
import { formatCompilerDiagnostic, generateC } from '../../src/compiler/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
const requireKernel = process.env.MESHC_REQUIRE_KERNEL === '1';

const HARNESS = `#include "policy.h"

struct decide_args {
	struct service_key key;
	__u32 rand;
	__u64 client;
	__u64 now;
	struct decision out;
	__u32 verdict;
};

SEC("syscall")
int mc_test_decide(struct decide_args *args)
{
	struct service_key key = args->key;
	struct decision out = {};

	args->verdict = mc_decide(&key, args->client, args->rand, args->now, &out);
	args->out = out;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

const policies = [
  { name: 'built-in policy', entry: undefined },
  { name: 'zone-then-weighted', entry: path.join(root, 'fixtures/policies/zone-then-weighted.ts') },
];

function compile(entry: string | undefined, dir: string): string {
  const result = generateC({ entry, baseDir: root });
  assert.equal(result.diagnostics.map(formatCompilerDiagnostic), []);
  fs.writeFileSync(path.join(dir, 'policy.h'), result.code);
  fs.writeFileSync(path.join(dir, 'harness.bpf.c'), HARNESS);
  const obj = path.join(dir, 'harness.bpf.o');
  try {
    execFileSync('clang-19', ['-O2', '-g', '-target', 'bpf', '-Wall', '-Werror',
      `-I/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`,
      '-c', path.join(dir, 'harness.bpf.c'), '-o', obj], { stdio: 'pipe' });
  } catch (e) {
    assert.unreachable(`clang-19 rejected the generated C:\n${(e as { stderr?: Buffer }).stderr?.toString()}`);
  }
  return obj;
}

const bpf = suite('generated C as a BPF program');

for (const p of policies) {
  bpf(`${p.name}: compiles with clang-19 -target bpf, with the maps the glue expects`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-bpf-'));
    try {
      const obj = compile(p.entry, dir);
      const symbols = execFileSync('llvm-objdump-19', ['-t', obj], { encoding: 'utf8' });
      for (const map of ['mc_services', 'mc_slots', 'mc_members', 'mc_maglev', 'mc_backends', 'mc_groups', 'mc_affinity', 'mc_rr', 'mc_conns']) {
        assert.match(symbols, new RegExp(`\\.maps\\s+\\S+\\s+${map}\\b`), `map ${map} in .maps`);
      }
      assert.match(symbols, /\bmc_test_decide\b/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  bpf(`${p.name}: the verifier accepts it (root only)`, () => {
    if (!isRoot) {
      if (requireKernel) assert.unreachable('MESHC_REQUIRE_KERNEL=1 but not running as root');
      console.log(`  skipped: loading ${p.name} needs root`);
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-bpf-'));
    try {
      const obj = compile(p.entry, dir);
      // The maps pin by name under the default root, /sys/fs/bpf. Load inside a private mount
      // namespace over a fresh bpffs instance, so nothing is pinned on the host; the pins and
      // programs go away with the namespace.
      const script = 'mount -t bpf bpf /sys/fs/bpf && bpftool prog loadall "$0" /sys/fs/bpf/meshc-gen-test && bpftool prog show pinned /sys/fs/bpf/meshc-gen-test/mc_test_decide';
      let shown = '';
      try {
        shown = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, obj], { encoding: 'utf8', stdio: 'pipe' });
      } catch (e) {
        const err = e as { stderr?: Buffer | string; stdout?: Buffer | string };
        const log = `${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}`.trim().split('\n');
        assert.unreachable(`the kernel refused ${p.name}: ${log.slice(-3).join(' / ')} (${log.length} lines)`);
      }
      assert.match(shown, /syscall\s+name mc_test_decide/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

bpf.run();

const glue = suite('bpf/: every file compiles on its own');

let policyDir = '';
glue.before(() => {
  policyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-glue-'));
  const result = generateC({ baseDir: root });
  assert.equal(result.diagnostics.map(formatCompilerDiagnostic), []);
  fs.writeFileSync(path.join(policyDir, POLICY_HEADER), result.code);
});
glue.after(() => {
  if (policyDir) fs.rmSync(policyDir, { recursive: true, force: true });
});

function clangAlone(file: string, args: string[]): void {
  try {
    execFileSync('clang-19', ['-O2', '-target', 'bpf', '-mcpu=v3', '-Wall', '-Werror', '-Wno-unused-function',
      ...includeDirs(policyDir).flatMap((dir) => ['-I', dir]), ...args, path.join(root, 'bpf', file)], { stdio: 'pipe' });
  } catch (e) {
    assert.unreachable(`bpf/${file} does not compile on its own:\n${(e as { stderr?: Buffer }).stderr?.toString()}`);
  }
}

for (const header of GLUE_HEADERS) {
  glue(`bpf/${header} includes what it uses`, () => clangAlone(header, ['-fsyntax-only', '-x', 'c']));
}
for (const entry of GLUE_FILES) {
  glue(`bpf/${entry} compiles to an object`, () => clangAlone(entry, ['-c', '-o', path.join(policyDir, `${entry}.o`)]));
}
// The node tunnel's steering: an object of its own, its declarations in a header the host's are generated from.
glue('bpf/meshc_tunnel.h includes what it uses', () => clangAlone('meshc_tunnel.h', ['-fsyntax-only', '-x', 'c']));
glue('bpf/tunnel.bpf.c compiles to an object', () => clangAlone('tunnel.bpf.c', ['-c', '-o', path.join(policyDir, 'tunnel.bpf.o')]));

glue.run();
