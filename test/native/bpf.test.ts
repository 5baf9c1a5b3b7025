// Kernel tests of the native addon through src/loader/index.ts: load, list, map operations (single,
// batch, iteration, fallback), test_run, ring buffer delivery, pinning and adoption, cgroup links,
// verifier rejection. Needs root, clang-19 and a built addon (built here if missing); otherwise
// each suite skips with a reason, which is a failure when MESHC_REQUIRE_KERNEL=1.
//
// Kernel safety: pins live under a fresh directory in /sys/fs/bpf, the cgroup is one this test
// creates under the cgroup v2 mount (from /proc/self/mounts), and everything is removed in after/finally hooks.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import { CGROUP_ROOT as KERNEL_CGROUP_ROOT } from '../kernel/env.ts';
import * as assert from 'uvu/assert';

import {
  BpfError,
  BpfObject,
  NATIVE_ADDON_MISSING,
  VerifierError,
  isBpffs,
  loadObject,
  mountBpffs,
  nativeAddonPath,
  openPinnedLink,
  openPinnedMap,
  openPinnedProgram,
  openRingBuffer,
  possibleCpus,
  queryCgroup,
  unpin,
  type BpfMap,
} from '../../src/loader/index.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const CGROUP_ROOT = KERNEL_CGROUP_ROOT;
const BPFFS = '/sys/fs/bpf';

// ---- preconditions ----

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function whyNotRunnable(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (BPF, bpffs, cgroups)';
  if (!which('clang-19')) return 'needs clang-19 to compile the BPF fixtures (apt-get install -y clang-19)';
  if (!existsSync(nativeAddonPath())) {
    console.log('test/native: building the addon (npm run build:native)');
    const build = spawnSync('npm', ['run', 'build:native'], { cwd: ROOT, encoding: 'utf8' });
    if (build.status !== 0) return `native addon does not build: ${(build.stderr || build.stdout).trim().split('\n').slice(-3).join(' | ')}`;
  }
  if (!existsSync(CGROUP_ROOT) || !existsSync(join(CGROUP_ROOT, 'cgroup.procs'))) return `needs cgroup v2 at ${CGROUP_ROOT}`;
  return undefined;
}

const skipReason = whyNotRunnable();

/** Registers a suite, or a skip (a failing test when MESHC_REQUIRE_KERNEL=1). */
function kernelSuite(name: string, define: (s: ReturnType<typeof suite>) => void): void {
  const s = suite(name);
  if (skipReason === undefined) {
    define(s);
  } else if (process.env.MESHC_REQUIRE_KERNEL === '1') {
    s('kernel tests are required (MESHC_REQUIRE_KERNEL=1)', () => {
      assert.unreachable(`cannot run: ${skipReason}`);
    });
  } else {
    console.log(`skip ${name}: ${skipReason}`);
  }
  s.run();
}

// ---- fixtures and helpers ----

let workDir = '';
let pinDir = '';
const objects: Record<string, string> = {};

function setUp(): void {
  if (workDir) return;
  workDir = mkdtempSync(join(tmpdir(), 'meshc-native-'));
  for (const name of ['probe', 'reject']) {
    const out = join(workDir, `${name}.bpf.o`);
    execFileSync('clang-19', [
      '-O2', '-g', '-target', 'bpf', '-I/usr/include/x86_64-linux-gnu',
      '-c', join(FIXTURES, `${name}.bpf.c`), '-o', out,
    ]);
    objects[name] = out;
  }
  mkdirSync(BPFFS, { recursive: true });
  mountBpffs(BPFFS);
  pinDir = join(BPFFS, `meshc-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(pinDir);
}

process.on('exit', () => {
  if (pinDir) rmSync(pinDir, { recursive: true, force: true });
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const readU64 = (b: Buffer | undefined): number => {
  assert.ok(b, 'expected a value');
  return Number(b.readBigUInt64LE(0));
};

/** struct probe_ctx of probe.bpf.c. */
function probeCtx(key: number, add: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(key, 0);
  b.writeUInt32LE(add, 4);
  return b;
}
function readProbeCtx(b: Buffer) {
  return {
    key: b.readUInt32LE(0),
    add: b.readUInt32LE(4),
    before: Number(b.readBigUInt64LE(8)),
    after: Number(b.readBigUInt64LE(16)),
    found: b.readUInt32LE(24),
    runs: b.readUInt32LE(28),
  };
}

function throwsBpf(fn: () => unknown, code: string, message: RegExp): BpfError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, BpfError);
    const e = err as BpfError;
    assert.is(e.code, code, `code of "${e.message}"`);
    assert.match(e.message, message);
    return e;
  }
  throw new assert.Assertion({ message: `expected a BpfError ${code}, nothing was thrown`, operator: 'throws', expects: code, actual: undefined });
}

function sortedHex(buffers: Iterable<Buffer>): string[] {
  return [...buffers].map((b) => b.toString('hex')).sort();
}

async function waitFor(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// ---- the addon missing (needs no kernel) ----

const missing = suite('bpf: addon missing');
missing('the wrapper names the build command when the binary is absent', () => {
  const script = "import('./src/loader/index.ts').then((m) => m.openPinnedMap('/nonexistent')).catch((e) => { console.log(e.name + ': ' + e.message); })";
  const res = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, MESHC_NATIVE_ADDON: join(tmpdir(), 'meshc-no-such-addon.node') },
  });
  assert.is(res.stdout.trim(), `NativeAddonMissingError: ${NATIVE_ADDON_MISSING}`, res.stderr);
});
missing.run();

// ---- object ----

kernelSuite('bpf: object', (s) => {
  s.before(setUp);

  s('lists programs and maps of a loaded object', () => {
    const obj = loadObject(objects.probe);
    try {
      const progs = Object.fromEntries(obj.programs().map((p) => [p.name, p]));
      assert.equal(Object.keys(progs).sort(), ['probe_bump', 'probe_connect4']);
      assert.is(progs.probe_bump.section, 'syscall');
      assert.is(progs.probe_bump.type, 'syscall');
      assert.is(progs.probe_bump.attachType, undefined);
      assert.is(progs.probe_connect4.section, 'cgroup/connect4');
      assert.is(progs.probe_connect4.type, 'cgroup_sock_addr');
      assert.is(progs.probe_connect4.attachType, 'cgroup_inet4_connect');
      assert.ok(progs.probe_bump.fd >= 0);

      const maps = Object.fromEntries(obj.maps().map((m) => [m.name, m]));
      const shape = (name: string) => {
        const m = maps[name];
        return [m.type, m.keySize, m.valueSize, m.maxEntries, m.internal];
      };
      assert.equal(shape('counters'), ['hash', 4, 8, 64, false]);
      assert.equal(shape('slots'), ['array', 4, 8, 8, false]);
      assert.equal(shape('events'), ['ringbuf', 0, 0, 4096, false]);
      assert.equal(shape('ports'), ['devmap_hash', 4, 4, 4, false]);
      assert.equal(shape('hits'), ['percpu_array', 4, 8, 1, false]);
      const rodata = obj.maps().find((m) => m.name.endsWith('.rodata'));
      assert.ok(rodata?.internal, 'the .rodata section is an internal map');
      assert.ok(maps.counters.fd >= 0);
    } finally {
      obj.close();
    }
  });

  s('sets a const volatile global before load, checking its name and size', () => {
    const obj = BpfObject.open(objects.probe);
    try {
      assert.equal(obj.globals(), [{ name: 'bias', section: '.rodata', offset: 0, size: 8 }]);
      assert.throws(() => obj.setGlobal('bias', u32(1)), (e: Error) => e instanceof RangeError && /global bias is 4 bytes, want 8/.test(e.message));
      throwsBpf(() => obj.setGlobal('nope', u64(1)), 'ENOENT', /set global nope: ENOENT/);
      obj.setGlobal('bias', u64(1000));
      obj.load();
      throwsBpf(() => obj.setGlobal('bias', u64(1)), 'EBUSY', /already loaded/);
      const out = obj.program('probe_bump').testRun({ ctx: probeCtx(1, 5) }).ctxOut!;
      assert.is(readProbeCtx(out).after, 1005);
    } finally {
      obj.close();
    }
  });

  s('names unknown programs and maps, and closes its handles with it', () => {
    const obj = loadObject(objects.probe);
    const counters = obj.map('counters');
    const bump = obj.program('probe_bump');
    assert.is(obj.map('counters'), counters, 'one handle per name');
    throwsBpf(() => obj.program('nope'), 'ENOENT', /^object .*probe\.bpf\.o: program: ENOENT: no program named nope$/);
    throwsBpf(() => obj.map('nope'), 'ENOENT', /no map named nope/);
    obj.close();
    assert.ok(counters.closed && bump.closed);
    assert.is(counters.fd, -1);
    const e = throwsBpf(() => counters.lookup(u32(1)), 'EBADF', /^map counters: lookup: EBADF: handle is closed$/);
    assert.is(e.op, 'lookup');
    assert.is(e.object, 'map counters');
    obj.close(); // twice is harmless
  });

  s('reports a missing object file with its path', () => {
    const e = throwsBpf(() => BpfObject.open('/nonexistent/x.bpf.o'), 'ENOENT', /^object \/nonexistent\/x\.bpf\.o: open: ENOENT/);
    assert.is(e.op, 'open');
    assert.is(e.errno, 2);
  });
});

// ---- maps ----

kernelSuite('bpf: map', (s) => {
  let obj: BpfObject;
  let counters: BpfMap;
  s.before(() => {
    setUp();
    obj = loadObject(objects.probe);
    counters = obj.map('counters');
  });
  s.after(() => obj?.close());
  s.before.each(() => {
    counters.deleteBatch([...counters.keys()]);
  });

  s('looks up, updates with each flag, and deletes', () => {
    assert.is(counters.lookup(u32(7)), undefined);
    counters.update(u32(7), u64(70));
    assert.is(readU64(counters.lookup(u32(7))), 70);
    const exists = throwsBpf(() => counters.update(u32(7), u64(1), 'noexist'), 'EEXIST', /^map counters: update: EEXIST$/);
    assert.is(exists.op, 'update');
    assert.is(exists.object, 'map counters');
    throwsBpf(() => counters.update(u32(8), u64(1), 'exist'), 'ENOENT', /^map counters: update: ENOENT$/);
    counters.update(u32(7), u64(71), 'exist');
    assert.is(readU64(counters.lookup(u32(7))), 71);
    assert.is(counters.delete(u32(7)), true);
    assert.is(counters.delete(u32(7)), false);
    assert.is(counters.lookup(u32(7)), undefined);
  });

  s('rejects keys and values of the wrong size, naming map, operation and limit', () => {
    assert.throws(() => counters.lookup(Buffer.alloc(3)), (e: Error) => e instanceof RangeError && e.message === 'map counters: lookup: key is 3 bytes, want 4 (key_size)');
    assert.throws(() => counters.update(u32(1), u32(1)), (e: Error) => e instanceof RangeError && e.message === 'map counters: update: value is 4 bytes, want 8 (value_size)');
    assert.throws(() => counters.updateBatch([[u32(1), u64(1)], [u64(2), u64(2)]]), (e: Error) => e instanceof RangeError && /key 1 is 8 bytes, want 4/.test(e.message));
    assert.throws(() => counters.lookup('abcd' as unknown as Buffer), (e: Error) => e instanceof TypeError && /key must be a Buffer/.test(e.message));
    assert.throws(() => counters.update(u32(1), u64(1), 'always' as 'any'), (e: Error) => e instanceof TypeError && /flag must be/.test(e.message));
  });

  s('iterates keys with get_next_key', () => {
    const keys = [3, 1, 4, 15, 9, 2, 6];
    for (const k of keys) counters.update(u32(k), u64(k * 10));
    assert.equal(sortedHex(counters.keys()), sortedHex(keys.map(u32)));
    const first = counters.nextKey();
    assert.ok(first && keys.includes(first.readUInt32LE(0)));
    let last: Buffer | undefined = first;
    let steps = 1;
    while ((last = counters.nextKey(last))) steps++;
    assert.is(steps, keys.length);
  });

  s('batch update, dump and delete on a hash map (delete skips missing keys)', () => {
    const entries = Array.from({ length: 40 }, (_, i) => [u32(100 + i), u64(i * i)] as const);
    assert.is(counters.updateBatch(entries), 40);
    assert.is(counters.batchSupport.update, true);
    const dumped = counters.entries({ batchSize: 7 });
    assert.is(counters.batchSupport.lookup, true);
    assert.equal(
      dumped.map(([k, v]) => [k.readUInt32LE(0), readU64(v)]).sort((a, b) => a[0] - b[0]),
      entries.map(([k, v]) => [k.readUInt32LE(0), readU64(v)]),
    );
    const doomed = [u32(100), u32(101), u32(999), u32(102), u32(998)];
    assert.is(counters.deleteBatch(doomed), 3);
    assert.is(counters.batchSupport.delete, true);
    assert.is(counters.lookup(u32(101)), undefined);
    assert.is(counters.entries().length, 37);
    // The kernel's batch update takes no NOEXIST/EXIST: those go element by element.
    throwsBpf(() => counters.updateBatch([[u32(200), u64(1)], [u32(103), u64(1)]], 'noexist'), 'EEXIST', /^map counters: update: EEXIST$/);
    assert.is(readU64(counters.lookup(u32(200))), 1);
    assert.is(readU64(counters.lookup(u32(103))), 9);
  });

  s('batch on an array map: update and dump work; delete falls back and the kernel refuses it', () => {
    const slots = obj.map('slots');
    const entries = Array.from({ length: 8 }, (_, i) => [u32(i), u64(1000 + i)] as const);
    assert.is(slots.updateBatch(entries), 8);
    const dumped = slots.entries();
    assert.equal(dumped.map(([k, v]) => [k.readUInt32LE(0), readU64(v)]), entries.map(([k, v]) => [k.readUInt32LE(0), readU64(v)]));
    throwsBpf(() => slots.deleteBatch([u32(0)]), 'EINVAL', /^map slots: delete: EINVAL$/);
    assert.is(slots.batchSupport.delete, false);
  });

  s('per-CPU values hold one 8-byte slot per possible CPU', () => {
    const hits = obj.map('hits');
    const cpus = possibleCpus();
    assert.ok(cpus >= 1);
    assert.is(hits.info.valueBufferSize, 8 * cpus);
    const value = Buffer.alloc(8 * cpus);
    for (let cpu = 0; cpu < cpus; cpu++) value.writeBigUInt64LE(BigInt(cpu + 1), cpu * 8);
    hits.update(u32(0), value);
    assert.equal(hits.lookup(u32(0)), value);
    const wrong = Buffer.alloc(8 * cpus + 8);
    assert.throws(() => hits.update(u32(0), wrong), (e: Error) => e instanceof RangeError && e.message === `map hits: update: value is ${wrong.length} bytes, want ${8 * cpus} (value_size rounded to 8 times possible CPUs)`);
  });

  s('falls back to per-element operations where the kernel has no batch ops (devmap_hash)', () => {
    const ports = obj.map('ports');
    const LOOPBACK = u32(1); // ifindex of lo, the only device a devmap entry may name here
    const entries = [[u32(10), LOOPBACK], [u32(20), LOOPBACK], [u32(30), LOOPBACK]] as const;
    assert.is(ports.updateBatch(entries), 3);
    assert.is(ports.batchSupport.update, false);
    assert.equal(sortedHex(ports.entries().map(([k]) => k)), sortedHex(entries.map(([k]) => k)));
    assert.is(ports.batchSupport.lookup, false);
    assert.is(ports.deleteBatch([u32(20), u32(40)]), 1);
    assert.is(ports.batchSupport.delete, false);
    assert.equal(sortedHex(ports.keys()), sortedHex([u32(10), u32(30)]));
  });
});

// ---- test_run and ring buffer ----

kernelSuite('bpf: test_run and ring buffer', (s) => {
  let obj: BpfObject;
  s.before(() => {
    setUp();
    obj = loadObject(objects.probe, { globals: { bias: u64(7) } });
  });
  s.after(() => obj?.close());

  s('a syscall program reads ctx, updates its map and writes ctx back', () => {
    const bump = obj.program('probe_bump');
    const counters = obj.map('counters');
    counters.update(u32(42), u64(100));
    const ctx = probeCtx(42, 5);
    const before = Buffer.from(ctx);
    const res = bump.testRun({ ctx });
    assert.is(res.retval, 1);
    assert.ok(res.duration > 0);
    assert.equal(ctx, before, 'the caller buffer is not modified');
    const out = readProbeCtx(res.ctxOut!);
    assert.equal([out.key, out.add, out.before, out.after, out.found], [42, 5, 100, 112, 1]);
    assert.is(readU64(counters.lookup(u32(42))), 105);

    const fresh = readProbeCtx(bump.testRun({ ctx: probeCtx(43, 9) }).ctxOut!);
    assert.equal([fresh.before, fresh.after, fresh.found], [0, 16, 0]);
  });

  s('test_run of a program type without it names the type', () => {
    throwsBpf(
      () => obj.program('probe_connect4').testRun({ ctx: Buffer.alloc(8) }),
      'ENOTSUPP',
      /^program probe_connect4: test run: ENOTSUPP: test_run is not supported for cgroup_sock_addr programs$/,
    );
  });

  s('repeat runs the program that many times', () => {
    const bump = obj.program('probe_bump');
    const first = readProbeCtx(bump.testRun({ ctx: probeCtx(50, 1) }).ctxOut!);
    const res = bump.testRun({ ctx: probeCtx(50, 2), repeat: 4 });
    const last = readProbeCtx(res.ctxOut!);
    assert.is(last.runs, first.runs + 4);
    assert.is(readU64(obj.map('counters').lookup(u32(50))), 1 + 4 * 2);
    assert.throws(() => bump.testRun({ data: Buffer.alloc(4) }), (e: Error) => e instanceof TypeError && /^program probe_bump: test run: data is not accepted by syscall programs/.test(e.message));
  });

  s('ring buffer records reach the callback from the event loop', async () => {
    const bump = obj.program('probe_bump');
    const events: Array<{ key: number; value: number }> = [];
    const reader = openRingBuffer(obj.map('events'), (rec) => {
      events.push({ key: rec.readUInt32LE(0), value: Number(rec.readBigUInt64LE(8)) });
    }, { start: false });
    try {
      reader.consume(); // records left by earlier tests
      events.length = 0;
      reader.start();
      obj.map('counters').update(u32(60), u64(10));
      bump.testRun({ ctx: probeCtx(60, 1) });
      bump.testRun({ ctx: probeCtx(60, 2) });
      assert.is(events.length, 0, 'delivery is asynchronous, not inside testRun');
      await waitFor(() => events.length >= 2, 'two ring buffer records');
      assert.equal(events, [{ key: 60, value: 11 }, { key: 60, value: 13 }]);
    } finally {
      reader.close();
    }
    bump.testRun({ ctx: probeCtx(60, 1) });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.is(events.length, 2, 'nothing is delivered after close');
  });

  s('records committed without a wakeup reach a reader only when it polls (pollMs)', async () => {
    const bump = obj.program('probe_bump');
    const woken: number[] = [];
    const quiet = openRingBuffer(obj.map('events'), (rec) => woken.push(rec.readUInt32LE(0)), { start: false });
    quiet.consume(); // records left by earlier tests
    woken.length = 0;
    quiet.start();
    bump.testRun({ ctx: probeCtx(1001, 1) });
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(woken, [], 'BPF_RB_NO_WAKEUP: no epoll event, no delivery without polling');
    quiet.close();
    const polled: number[] = [];
    const poller = openRingBuffer(obj.map('events'), (rec) => polled.push(rec.readUInt32LE(0)), { pollMs: 10 });
    try {
      await waitFor(() => polled.length >= 1, 'the polled record');
      assert.equal(polled, [1001]);
    } finally {
      poller.close();
    }
    assert.throws(() => openRingBuffer(obj.map('events'), () => {}, { pollMs: 0 }), (e: Error) => e instanceof RangeError && /^map events: ring buffer: pollMs must be a positive number of milliseconds, got 0$/.test(e.message));
  });

  s('consume() drains synchronously; a throwing callback surfaces from it; close inside the callback is safe', () => {
    const bump = obj.program('probe_bump');
    const seen: number[] = [];
    const reader = openRingBuffer(obj.map('events'), (rec) => seen.push(Number(rec.readBigUInt64LE(8))), { start: false });
    reader.consume(); // records left by earlier tests
    seen.length = 0;
    obj.map('counters').delete(u32(70));
    for (let i = 0; i < 3; i++) bump.testRun({ ctx: probeCtx(70, 1) });
    assert.is(reader.consume(), 3);
    assert.equal(seen, [1, 2, 3]);
    assert.is(reader.consume(), 0);
    reader.close();

    const thrower = openRingBuffer(obj.map('events'), () => {
      throw new Error('callback failed');
    }, { start: false });
    bump.testRun({ ctx: probeCtx(70, 1) });
    assert.throws(() => thrower.consume(), /callback failed/);
    thrower.close();

    let calls = 0;
    const selfClosing = openRingBuffer(obj.map('events'), () => {
      calls++;
      selfClosing.close();
    }, { start: false });
    bump.testRun({ ctx: probeCtx(70, 1) });
    bump.testRun({ ctx: probeCtx(70, 1) });
    selfClosing.consume();
    assert.is(calls, 1, 'no record is delivered after close()');
    throwsBpf(() => selfClosing.consume(), 'EBADF', /^ringbuf events: consume: EBADF/);
  });

  s('batch mode: the records of a drain in one Buffer, each a view in commit order; close and throw as in the default mode', async () => {
    const bump = obj.program('probe_bump');
    const seen: number[] = [];
    const views: Buffer[] = [];
    const reader = openRingBuffer(obj.map('events'), (rec) => {
      seen.push(Number(rec.readBigUInt64LE(8)));
      views.push(rec);
    }, { start: false, batch: true });
    reader.consume(); // records left by earlier tests
    seen.length = 0;
    views.length = 0;
    obj.map('counters').delete(u32(75));
    for (let i = 0; i < 5; i++) bump.testRun({ ctx: probeCtx(75, 1) });
    assert.is(reader.consume(), 5);
    assert.equal(seen, [1, 2, 3, 4, 5]);
    assert.ok(views.every((v) => v.buffer === views[0]!.buffer), 'one Buffer for the drain');
    assert.ok(views.every((v) => v.length === views[0]!.length && v.readUInt32LE(0) === 75));
    // Started: delivered from the event loop (polled), in order.
    seen.length = 0;
    const polled = openRingBuffer(obj.map('events'), (rec) => seen.push(Number(rec.readBigUInt64LE(8))), { pollMs: 10, batch: true });
    try {
      for (let i = 0; i < 3; i++) bump.testRun({ ctx: probeCtx(75, 1) });
      await waitFor(() => seen.length >= 3, 'three polled records');
      assert.equal(seen, [6, 7, 8]);
    } finally {
      polled.close();
    }
    reader.close();

    let calls = 0;
    const selfClosing = openRingBuffer(obj.map('events'), () => {
      calls++;
      selfClosing.close();
    }, { start: false, batch: true });
    bump.testRun({ ctx: probeCtx(75, 1) });
    bump.testRun({ ctx: probeCtx(75, 1) });
    selfClosing.consume();
    assert.is(calls, 1, 'no record is delivered after close()');
    const thrower = openRingBuffer(obj.map('events'), () => {
      throw new Error('batch callback failed');
    }, { start: false, batch: true });
    bump.testRun({ ctx: probeCtx(75, 1) });
    assert.throws(() => thrower.consume(), /batch callback failed/);
    thrower.close();
  });

  s('a callback that throws in started mode raises an uncaught exception, and delivery goes on', async () => {
    const bump = obj.program('probe_bump');
    const uncaught: Error[] = [];
    const onUncaught = (err: Error) => uncaught.push(err);
    process.prependListener('uncaughtException', onUncaught);
    let calls = 0;
    const reader = openRingBuffer(obj.map('events'), () => {
      calls++;
      if (calls === 1) throw new Error('first record refused');
    }, { start: false });
    try {
      reader.consume();
      calls = 0;
      reader.start();
      bump.testRun({ ctx: probeCtx(80, 1) });
      await waitFor(() => uncaught.length === 1, 'the uncaught exception');
      assert.is(uncaught[0].message, 'first record refused');
      bump.testRun({ ctx: probeCtx(80, 1) });
      await waitFor(() => calls === 2, 'the next record');
    } finally {
      reader.close();
      process.removeListener('uncaughtException', onUncaught);
    }
  });

  s('a ring buffer reader refuses a map that is not a ring buffer', () => {
    throwsBpf(() => openRingBuffer(obj.map('counters'), () => {}), 'EINVAL', /^ringbuf counters: open: EINVAL: map is hash, want ringbuf$/);
  });
});

// ---- pinning ----

kernelSuite('bpf: pinning', (s) => {
  s.before(setUp);

  s('a pinned map outlives its object and reopens by path', () => {
    const path = join(pinDir, 'counters-manual');
    const obj = loadObject(objects.probe);
    try {
      obj.map('counters').update(u32(5), u64(55));
      obj.map('counters').pin(path);
      throwsBpf(() => obj.map('counters').pin(path), 'EEXIST', /a pin already exists there/);
    } finally {
      obj.close();
    }
    const reopened = openPinnedMap(path);
    try {
      assert.is(reopened.name, 'counters');
      assert.equal([reopened.type, reopened.keySize, reopened.valueSize, reopened.maxEntries], ['hash', 4, 8, 64]);
      assert.is(readU64(reopened.lookup(u32(5))), 55);
    } finally {
      reopened.close();
    }
    assert.is(unpin(path), true);
    assert.is(unpin(path), false);
    throwsBpf(() => openPinnedMap(path), 'ENOENT', /^map .*counters-manual: open pinned: ENOENT/);
  });

  s('pinning outside bpffs says so', () => {
    const obj = loadObject(objects.probe);
    try {
      const e = throwsBpf(() => obj.map('counters').pin(join(workDir, 'counters')), 'EPERM', /is not on a bpffs mount/);
      assert.is(e.op, 'pin');
      assert.ok(isBpffs(pinDir) && !isBpffs(workDir));
    } finally {
      obj.close();
    }
  });

  s('pinRoot: maps are pinned by name and adopted by the next load', () => {
    const root = join(pinDir, 'adopt', 'nested'); // created by open()
    const first = loadObject(objects.probe, { pinRoot: root });
    let id: number;
    try {
      const counters = first.maps().find((m) => m.name === 'counters')!;
      assert.is(counters.pinPath, join(root, 'counters'));
      assert.ok(counters.pinned && !counters.adopted);
      assert.ok(first.maps().filter((m) => m.internal).every((m) => !m.pinned), 'internal maps are not pinned');
      assert.equal(readdirSync(root).sort(), ['counters', 'events', 'hits', 'ports', 'slots']);
      first.program('probe_bump').testRun({ ctx: probeCtx(9, 90) });
      id = first.map('counters').info.id;
    } finally {
      first.close();
    }
    const second = loadObject(objects.probe, { pinRoot: root });
    try {
      assert.ok(second.maps().filter((m) => !m.internal).every((m) => m.adopted && m.pinned), 'every pinned map adopted');
      assert.is(second.map('counters').info.id, id, 'the same kernel map');
      assert.is(readU64(second.map('counters').lookup(u32(9))), 90);
      const out = readProbeCtx(second.program('probe_bump').testRun({ ctx: probeCtx(9, 1) }).ctxOut!);
      assert.equal([out.before, out.found], [90, 1], 'the new programs use the adopted map');
    } finally {
      second.close();
    }
  });

  s('pinRoot: a pin of another shape is refused, naming the field', () => {
    const root = join(pinDir, 'mismatch');
    mkdirSync(root);
    const obj = loadObject(objects.probe);
    try {
      obj.map('slots').pin(join(root, 'counters')); // an array where a hash is expected
    } finally {
      obj.close();
    }
    const e = throwsBpf(
      () => loadObject(objects.probe, { pinRoot: root }),
      'EINVAL',
      /^map counters: reuse pin: EINVAL: .*mismatch\/counters has type 2, the object wants 1 \(remove the pin to recreate the map\)$/,
    );
    assert.is(e.object, 'map counters');
  });

  s('a pinned program reopens by path and still runs', () => {
    const path = join(pinDir, 'bump');
    const obj = loadObject(objects.probe);
    try {
      obj.program('probe_bump').pin(path);
    } finally {
      obj.close();
    }
    const prog = openPinnedProgram(path);
    try {
      assert.is(prog.name, 'probe_bump');
      assert.is(prog.type, 'syscall');
      assert.is(prog.testRun({ ctx: probeCtx(1, 1) }).retval, 1);
      throwsBpf(() => openPinnedMap(path), 'EINVAL', /is a prog pin/);
    } finally {
      prog.close();
      unpin(path);
    }
  });
});

// ---- cgroup links ----

kernelSuite('bpf: cgroup link', (s) => {
  s.before(setUp);

  s('attaches connect4 to a cgroup of its own, pins the link, reopens and detaches it', () => {
    const cgroup = join(CGROUP_ROOT, `meshc-test-${process.pid}-${randomBytes(4).toString('hex')}`);
    const linkPin = join(pinDir, 'connect4-link');
    mkdirSync(cgroup);
    const obj = loadObject(objects.probe);
    try {
      const prog = obj.program('probe_connect4');
      assert.equal(queryCgroup(cgroup, 'cgroup_inet4_connect'), []);
      const link = prog.attachCgroup(cgroup);
      const info = link.info;
      assert.is(info.type, 'cgroup');
      assert.is(info.progId, prog.info.id);
      assert.is(info.attachType, 'cgroup_inet4_connect');
      assert.ok((info.cgroupId ?? 0) > 0);
      assert.equal(queryCgroup(cgroup, 'cgroup_inet4_connect').map((p) => [p.id, p.name]), [[prog.info.id, 'probe_connect4']]);

      link.pin(linkPin);
      link.close();
      obj.close();
      assert.is(queryCgroup(cgroup, 'cgroup_inet4_connect').length, 1, 'the pin keeps it attached');

      const reopened = openPinnedLink(linkPin);
      assert.is(reopened.info.id, info.id);
      assert.is(reopened.pinnedPath, linkPin);
      reopened.detach();
      assert.ok(!existsSync(linkPin), 'detach removes the pin');
      assert.equal(queryCgroup(cgroup, 'cgroup_inet4_connect'), []);
      throwsBpf(() => openPinnedLink(linkPin), 'ENOENT', /open pinned: ENOENT/);
    } finally {
      obj.close();
      unpin(linkPin);
      rmdirSync(cgroup);
    }
  });

  s('names the cgroup or attach type it cannot use', () => {
    const obj = loadObject(objects.probe);
    try {
      throwsBpf(() => obj.program('probe_connect4').attachCgroup(`${CGROUP_ROOT}/meshc-no-such-cgroup`), 'ENOENT', new RegExp(`^cgroup ${CGROUP_ROOT}/meshc-no-such-cgroup: open: ENOENT$`));
      assert.throws(() => obj.program('probe_connect4').attachCgroup(CGROUP_ROOT, 'connect4'), /unknown attach type "connect4"/);
    } finally {
      obj.close();
    }
  });
});

// ---- handle lifetime ----

kernelSuite('bpf: handle lifetime', (s) => {
  s.before(setUp);

  s('collected handles close their fds exactly once', () => {
    // In a child with --expose-gc: open fds before, during and after dropping every kind of handle.
    const script = `
      import { readdirSync } from 'node:fs';
      import { loadObject, BpfObject, openRingBuffer } from './src/loader/index.ts';
      const fds = () => readdirSync('/proc/self/fd').length;
      const settle = async () => { for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); } };
      const baseline = fds();
      (() => {
        for (let i = 0; i < 20; i++) {
          const obj = loadObject(process.argv[1]);
          obj.map('counters'); obj.program('probe_bump');
          openRingBuffer(obj.map('events'), () => {}, { start: false });
          if (i % 2) obj.close(); // the rest are left to the collector
        }
        BpfObject.open(process.argv[1]);
      })();
      const during = fds();
      await settle();
      console.log(JSON.stringify({ baseline, during, after: fds() }));
    `;
    const res = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script, objects.probe], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.is(res.status, 0, res.stderr);
    const { baseline, during, after } = JSON.parse(res.stdout.trim().split('\n').pop()!);
    assert.ok(during > baseline + 20, `handles hold fds (${baseline} -> ${during})`);
    assert.is(after, baseline, `every fd closed after collection (${during} -> ${after})`);
  });
});

// ---- verifier ----

kernelSuite('bpf: verifier', (s) => {
  s.before(setUp);

  s('a rejected program throws the verifier reason, with the full log on the error', () => {
    let caught: unknown;
    try {
      loadObject(objects.reject);
    } catch (err) {
      caught = err;
    }
    assert.instance(caught, VerifierError);
    const e = caught as VerifierError;
    assert.match(e.message, /^program reject_unchecked: verifier rejected: .*R0 invalid mem access 'map_value_or_null' \(\d+ lines omitted\)$/);
    assert.not.match(e.message, /processed \d+ insns/);
    assert.is(e.program, 'reject_unchecked');
    assert.is(e.object, 'program reject_unchecked');
    assert.is(e.op, 'load');
    assert.is(e.code, 'EACCES');
    const logLines = e.verifierLog.trim().split('\n');
    const omitted = Number(/\((\d+) lines omitted\)/.exec(e.message)![1]);
    assert.is(omitted, logLines.length - 2);
    assert.match(e.verifierLog, /invalid mem access 'map_value_or_null'/);
    assert.is(e.truncated, false);
  });
});

kernelSuite('bpf: errors across two copies of the loader', (s) => {
  s.before(setUp);

  s('errors from either copy (require and import) are instances of both copies\' classes', () => {
    const script = `
      const viaRequire = require('./src/loader/index.ts');
      import('./src/loader/index.ts').then((viaImport) => {
        const rows = [];
        for (const [copy, m] of [['require', viaRequire], ['import', viaImport]]) {
          for (const [what, fn] of [['open pinned', () => m.openPinnedMap('/nonexistent')], ['verifier', () => m.loadObject(process.env.REJECT)]]) {
            try { fn(); } catch (e) {
              rows.push([copy, what, e instanceof viaRequire.BpfError, e instanceof viaImport.BpfError, e instanceof viaRequire.VerifierError, e instanceof viaImport.VerifierError, viaRequire.isBpfError(e, e.code)]);
            }
          }
        }
        console.log(JSON.stringify({ twoCopies: viaRequire.BpfError !== viaImport.BpfError, rows }));
      });`;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, REJECT: objects.reject } });
    assert.is(res.status, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { twoCopies: boolean; rows: unknown[] };
    assert.ok(out.twoCopies, 'require and import gave two copies of the module');
    assert.equal(out.rows, [
      ['require', 'open pinned', true, true, false, false, true],
      ['require', 'verifier', true, true, true, true, true],
      ['import', 'open pinned', true, true, false, false, true],
      ['import', 'verifier', true, true, true, true, true],
    ]);
  });
});
