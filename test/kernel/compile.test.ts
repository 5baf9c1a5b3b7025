// `meshc compile`: its output is reproducible, loads with meshc's loader and with bpftool
// (every program accepted); a bad policy prints the generator's diagnostics; a policy the
// verifier refuses fails naming the program with the verifier's reason.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadObject } from '../../src/loader/index.ts';
import { checkObject, compileObject, ProgramRejectedError } from '../../src/build/compile.ts';
import { callMeshc } from '../helpers/meshc.ts';
import { clangSkipReason, kernelSkipReason, kernelSuite, makePinDir, removePinDir, ROOT } from './env.ts';

const PROGRAMS = [
  'mc_harness_decide', 'mc_harness_netpol', 'mc_harness_np_pick', 'mc_np_ingress', 'mc_sock4_connect', 'mc_sock4_getpeername', 'mc_sock4_recvmsg', 'mc_sock4_sendmsg',
  'mc_sock6_connect', 'mc_sock6_getpeername', 'mc_sock6_recvmsg', 'mc_sock6_sendmsg', 'mc_sock_release',
];
const POLICIES = path.join(ROOT, 'test', 'kernel', 'policies');

const cli = suite('meshc compile: usage');
cli('unknown options are rejected by name (exit 2)', async () => {
  const res = await callMeshc('compile', '--polcy', 'x.ts');
  assert.is(res.status, 2);
  assert.match(res.stderr, /--polcy/);
});
cli.run();

// Generator diagnostics need clang-19 to be there (compile checks its tools first), not root.
kernelSuite('meshc compile: bad input', clangSkipReason(), (s) => {
  s('a policy outside the subset: diagnostics at file:line:col, exit 1', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'meshc-compile-'));
    try {
      const res = await callMeshc('compile', '--policy', 'test/kernel/policies/bad-recursion.ts', '--out', out);
      assert.is(res.status, 1, res.stderr);
      assert.match(res.stderr, /test\/kernel\/policies\/bad-recursion\.ts:9:10: error MC1003: recursion/);
      assert.not.ok(existsSync(path.join(out, 'meshc.bpf.o')), 'no object for a bad policy');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
  s('a missing policy file is named (exit 1)', async () => {
    const res = await callMeshc('compile', '--policy', 'no/such/policy.ts', '--out', path.join(tmpdir(), 'meshc-never'));
    assert.is(res.status, 1);
    assert.match(res.stderr, /--policy no\/such\/policy\.ts: no such file/);
  });
});

kernelSuite('meshc compile: kernel', kernelSkipReason(), (s) => {
  let out = '';

  s.before(() => {
    out = mkdtempSync(path.join(tmpdir(), 'meshc-compile-'));
  });
  s.after(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  s('meshc compile --out DIR --json writes C, object, wasm and manifest; reproducibly', async () => {
    const first = await callMeshc('compile', '--out', out, '--json');
    assert.is(first.status, 0, first.stderr);
    const result = JSON.parse(first.stdout) as { ok: boolean; manifest: { programs: Array<{ name: string }>; outputs: Array<{ path: string; sha256: string }> } };
    assert.ok(result.ok);
    assert.equal(result.manifest.programs.map((p) => p.name).sort(), PROGRAMS);
    assert.match(first.stderr, /meshc compile: clang:/);
    const source = readFileSync(path.join(out, 'meshc.bpf.c'), 'utf8');
    assert.ok(source.startsWith('/* DO NOT EDIT'), 'banner first');
    assert.match(source, /#line 1 "bpf\/sock\.bpf\.c"/);
    for (const file of ['meshc_policy.h', 'meshc.bpf.o', 'policy.wasm', 'manifest.json']) assert.ok(existsSync(path.join(out, file)), file);
    // The policy is a header of its own that the glue includes, not text pasted in front of it.
    assert.not.match(source, /struct service_key \{/);
    assert.match(readFileSync(path.join(out, 'meshc_policy.h'), 'utf8'), /^\/\* DO NOT EDIT[^\n]*\n#ifndef MESHC_POLICY_GENERATED_H\n[^]*struct service_key \{/);
    const manifest = readFileSync(path.join(out, 'manifest.json'), 'utf8');

    const again = await callMeshc('compile', '--out', out, '--no-wasm');
    assert.is(again.status, 0, again.stderr);
    assert.is(readFileSync(path.join(out, 'meshc.bpf.c'), 'utf8'), source, 'meshc.bpf.c is byte-for-byte reproducible');
    const objectHash = (text: string) => (JSON.parse(text) as typeof result.manifest).outputs.find((o) => o.path === 'meshc.bpf.o')!.sha256;
    assert.is(objectHash(readFileSync(path.join(out, 'manifest.json'), 'utf8')), objectHash(manifest), 'meshc.bpf.o is reproducible');
  });

  s("the object loads with meshc's loader: every program and map", () => {
    const pins = makePinDir('compile');
    try {
      const obj = loadObject(path.join(out, 'meshc.bpf.o'), { pinRoot: pins });
      try {
        const programs = obj.programs();
        assert.equal(programs.map((p) => p.name).sort(), PROGRAMS);
        for (const p of programs) assert.ok(p.fd >= 0, `${p.name} loaded`);
        const pinned = obj.maps().filter((m) => m.pinned).map((m) => m.name).sort();
        for (const name of ['mc_services', 'mc_backends', 'mc_conns', 'mc_revnat', 'mc_metrics', 'mc_events']) {
          assert.ok(pinned.includes(name), `${name} pinned under ${pins}`);
        }
      } finally {
        obj.close();
      }
    } finally {
      removePinDir(pins);
    }
  });

  // bpftool pins LIBBPF_PIN_BY_NAME maps under /sys/fs/bpf itself (its pin root is fixed), which
  // is not ours: so it runs in a private mount namespace over a bpffs of its own, mounted at
  // /sys/fs/bpf there and gone with the namespace.
  s('the object loads with `bpftool prog loadall`: every program pinned', () => {
    const dir = `/sys/fs/bpf/meshc-test-bpftool-${process.pid}`;
    const script = `set -e; mount -t bpf bpf /sys/fs/bpf; mkdir ${dir}; bpftool prog loadall "$1" ${dir}; ls ${dir}; rm -rf ${dir}`;
    const res = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', path.join(out, 'meshc.bpf.o')], { encoding: 'utf8' });
    assert.is(res.status, 0, `bpftool: ${res.stderr}`);
    assert.equal(res.stdout.trim().split('\n').sort(), PROGRAMS);
    assert.not.ok(existsSync(dir), 'nothing left in the real bpffs');
  });

  s('a policy the verifier rejects: the error names the program and the reason', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'meshc-verifier-'));
    try {
      const res = await callMeshc('compile', '--policy', path.join(POLICIES, 'verifier-too-complex.ts'), '--out', dir, '--no-wasm', '--check', '--json');
      assert.is(res.status, 1, res.stderr);
      const failure = JSON.parse(res.stdout) as { ok: boolean; stage: string; program: string; verifierLog: string };
      assert.is(failure.ok, false);
      assert.is(failure.stage, 'check');
      assert.ok(PROGRAMS.includes(failure.program), `names a program: ${failure.program}`);
      assert.match(res.stderr, new RegExp(`verifier rejected program ${failure.program}: verifier rejected: .*(too complex|too large)`));
      assert.match(res.stderr, /lines omitted/);
      assert.ok(failure.verifierLog.split('\n').length > 100, 'the full log is in the JSON');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  s('a broken C object: checkObject names the program and the verifier reason', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'meshc-broken-'));
    try {
      const source = path.join(dir, 'broken.bpf.c');
      // Reads a hash map value without the NULL check the verifier insists on. (An array lookup
      // with a constant in-range key is known non-NULL to recent verifiers, hence a hash map.)
      const text = [
        '#include <linux/bpf.h>',
        '#include <bpf/bpf_helpers.h>',
        'struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64); __uint(max_entries, 1); } mc_broken_map SEC(".maps");',
        'SEC("cgroup/connect4")',
        'int mc_broken_connect(struct bpf_sock_addr *ctx)',
        '{',
        '\t__u32 zero = 0;',
        '\t__u64 *v = bpf_map_lookup_elem(&mc_broken_map, &zero);',
        '\treturn *v ? 1 : 0;',
        '}',
        'char LICENSE[] SEC("license") = "Dual BSD/GPL";',
      ].join('\n');
      (await import('node:fs')).writeFileSync(source, text);
      compileObject(source, path.join(dir, 'broken.bpf.o'));
      try {
        await checkObject(path.join(dir, 'broken.bpf.o'));
        assert.unreachable('the verifier accepted a NULL dereference');
      } catch (err) {
        assert.instance(err, ProgramRejectedError);
        const rejected = err as ProgramRejectedError;
        assert.is(rejected.program, 'mc_broken_connect');
        assert.match(rejected.message, /program mc_broken_connect: verifier rejected: .*map_value_or_null/);
        assert.match(rejected.verifierLog, /invalid mem access 'map_value_or_null'/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
