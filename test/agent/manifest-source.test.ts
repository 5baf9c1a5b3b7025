// The manifests directory as the agent reads and watches it: last good state through missing
// directories, the settle rule for emptied and vanished files, and a watch that sees renames,
// symlink swaps and directories added later.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import type { FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManifestSource } from '../../src/agent/manifest-source.ts';
import { serviceYaml } from '../helpers/policy-harness.ts';

const clusterIPs = new Map<string, string>();
const clusterIP = (name: string) => clusterIPs.get(name) ?? clusterIPs.set(name, `10.96.0.${clusterIPs.size + 10}`).get(name)!;
const svc = (name: string, ip = '10.0.0.1') => serviceYaml(name, [{ ip }], { clusterIP: clusterIP(name) });
const names = (snapshot: { model: { services: Map<string, unknown> } }) => [...snapshot.model.services.keys()].sort();

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'meshc-source-'));
}

/** Writes by rename, the way editors, `sed -i` and kubectl cp replace a file. */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Waits for `count` onChange calls (or fails after `ms`). */
function changes(ms = 5000) {
  let seen = 0;
  const waiters: { count: number; done: () => void }[] = [];
  return {
    onChange: () => {
      seen++;
      for (const w of waiters.filter((w) => seen >= w.count)) w.done();
    },
    get seen() {
      return seen;
    },
    async until(count: number, what: string) {
      if (seen >= count) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no change seen within ${ms} ms: ${what}`)), ms);
        waiters.push({ count, done: () => (clearTimeout(timer), resolve()) });
      });
    },
  };
}

const read = suite('manifest source: what read() keeps');

read('a file never good loads none of its objects; bad since the start, the source is not synced until it is good', async () => {
  const dir = tempDir();
  const broken = `${svc('half')}---\n${svc('other')}\n  broken: [unclosed\n`;
  writeFileSync(path.join(dir, 'a.yaml'), svc('a'));
  writeFileSync(path.join(dir, 'b.yaml'), broken);
  const source = new ManifestSource([dir]);
  try {
    let snap = await source.read();
    // Half of b.yaml parses (the Service half and its slice); none of it loads.
    assert.equal(names(snap), ['default/a']);
    assert.not.ok(source.synced(), 'bad since the start: what it held in the pins is unknown');
    assert.ok(snap.diagnostics.some((d) => d.file.endsWith('b.yaml') && /never good since the agent started: none of its objects are applied, and nothing is removed/.test(d.message)));
    writeFileSync(path.join(dir, 'c.yaml'), `${svc('late')}---\n${svc('later')}\n  broken: [unclosed\n`);
    snap = await source.read();
    assert.equal(names(snap), ['default/a'], 'a new bad file loads nothing either');
    assert.ok(snap.diagnostics.some((d) => d.file.endsWith('c.yaml') && /never good: none of its objects are applied until it is fixed/.test(d.message)));
    writeFileSync(path.join(dir, 'b.yaml'), `${svc('half')}---\n${svc('other')}`);
    snap = await source.read();
    assert.equal(names(snap), ['default/a', 'default/half', 'default/other']);
    assert.ok(source.synced(), 'a bad file that appeared later does not hold the source back');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

read('a deleted manifests directory keeps its last good state and says so; a re-created one is read again', async () => {
  const root = tempDir();
  const dir = path.join(root, 'manifests');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'a.yaml'), svc('a'));
  writeFileSync(path.join(dir, 'b.yaml'), svc('b'));
  const source = new ManifestSource([dir]);
  try {
    assert.equal(names(await source.read()), ['default/a', 'default/b']);
    rmSync(dir, { recursive: true });
    const gone = await source.read();
    assert.equal(names(gone), ['default/a', 'default/b']);
    assert.equal(gone.heldBack, [dir]);
    assert.match(gone.diagnostics.map((d) => `${d.file}: ${d.message}`).join('\n'), `${dir}: cannot read the directory (ENOENT): the last good state of its 2 files stays in force`);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'c.yaml'), svc('c'));
    const back = await source.read();
    assert.equal(back.heldBack, []);
    // a.yaml and b.yaml are gone from the re-created directory: they settle before they go.
    assert.equal(names(back), ['default/a', 'default/b', 'default/c']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

read('settle rule: an emptied file keeps its objects for settleMs, a refilled one never loses them', async () => {
  const dir = tempDir();
  let now = 1000;
  const source = new ManifestSource([dir], { settleMs: 2000, now: () => now });
  try {
    writeFileSync(path.join(dir, 'a.yaml'), svc('a'));
    writeFileSync(path.join(dir, 'b.yaml'), svc('b'));
    assert.equal(names(await source.read()), ['default/a', 'default/b']);
    writeFileSync(path.join(dir, 'a.yaml'), '');
    const empty = await source.read();
    assert.equal(names(empty), ['default/a', 'default/b']);
    assert.equal(empty.heldBack, [path.join(dir, 'a.yaml')]);
    assert.match(empty.diagnostics[0]!.message, /the file is empty after holding 2 objects: they stay in force until it has been so for 2000 ms/);
    now += 1999;
    assert.equal(names(await source.read()), ['default/a', 'default/b']);
    now += 1;
    const settled = await source.read();
    assert.equal(names(settled), ['default/b']);
    assert.equal(settled.heldBack, []);
    // Truncated, then filled again within the period: nothing is ever removed.
    writeFileSync(path.join(dir, 'b.yaml'), '');
    assert.equal(names(await source.read()), ['default/b']);
    now += 500;
    writeFileSync(path.join(dir, 'b.yaml'), svc('b', '10.0.0.2'));
    const refilled = await source.read();
    assert.equal(names(refilled), ['default/b']);
    assert.equal(refilled.model.endpoints.get('default/b/http')?.map((e) => e.ip), ['10.0.0.2']);
    // The period starts again from the next emptying, not the first one.
    writeFileSync(path.join(dir, 'b.yaml'), '# nothing\n');
    now += 5000;
    assert.equal(names(await source.read()), ['default/b']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

read('a deleted file settles too; a file with errors keeps its last good version', async () => {
  const dir = tempDir();
  let now = 0;
  const source = new ManifestSource([dir], { settleMs: 2000, now: () => now });
  try {
    writeFileSync(path.join(dir, 'a.yaml'), svc('a'));
    writeFileSync(path.join(dir, 'b.yaml'), svc('b'));
    await source.read();
    rmSync(path.join(dir, 'a.yaml'));
    writeFileSync(path.join(dir, 'b.yaml'), `${svc('b')}\n  broken: [unclosed\n`);
    const first = await source.read();
    assert.equal(names(first), ['default/a', 'default/b']);
    assert.match(first.diagnostics.map((d) => d.message).join('\n'), /the file is gone after holding 2 objects/);
    assert.equal(first.heldBack, [path.join(dir, 'b.yaml')]);
    now += 2000;
    assert.equal(names(await source.read()), ['default/b']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

read('a directory never read since the agent started: not synced (nothing is pruned), and says so; synced once read', async () => {
  const root = tempDir();
  const dir = path.join(root, 'manifests');
  const source = new ManifestSource([dir]);
  try {
    const missing = await source.read();
    assert.is(source.synced(), false);
    assert.equal(names(missing), []);
    assert.match(missing.diagnostics.map((d) => `${d.file}: ${d.message}`).join('\n'), `${dir}: cannot read the directory (ENOENT) and it was never read since the agent started: nothing is removed from the maps until it can be read`);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'a.yaml'), svc('a'));
    assert.equal(names(await source.read()), ['default/a']);
    assert.is(source.synced(), true);
    // Once read, a directory that goes away keeps its last good state and the source stays synced.
    rmSync(dir, { recursive: true });
    assert.equal(names(await source.read()), ['default/a']);
    assert.is(source.synced(), true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

read.run();

const watching = suite('manifest source: watch() sees every way a file changes');

watching('rename, in-place write after a rename, symlink swap, a directory added later, the root re-created', async () => {
  const root = tempDir();
  const dir = path.join(root, 'manifests');
  mkdirSync(dir);
  const source = new ManifestSource([dir], { rescanMs: 200, settleMs: 300 });
  const seen = changes();
  writeFileSync(path.join(dir, 'a.yaml'), svc('a'));
  await source.read();
  const stop = source.watch(seen.onChange);
  try {
    // Each step: change something, then read (as the agent does) after each change the watch
    // reports, until the read shows it. A change that is never reported fails the step.
    const step = async (what: string, change: () => void, expect: (s: Awaited<ReturnType<ManifestSource['read']>>) => void) => {
      let next = seen.seen + 1;
      change();
      for (;;) {
        await seen.until(next, what);
        next = seen.seen + 1;
        try {
          return expect(await source.read());
        } catch {
          // an earlier change's report: wait for the next one
        }
      }
    };
    const ip = (s: Awaited<ReturnType<ManifestSource['read']>>, name: string) => s.model.endpoints.get(`default/${name}/http`)?.map((e) => e.ip);
    await step('replaced by rename', () => replace(path.join(dir, 'a.yaml'), svc('a', '10.0.0.2')), (s) => assert.equal(ip(s, 'a'), ['10.0.0.2']));
    await step('written in place after the rename', () => writeFileSync(path.join(dir, 'a.yaml'), svc('a', '10.0.0.3')), (s) => assert.equal(ip(s, 'a'), ['10.0.0.3']));
    // A ConfigMap volume: files are symlinks through ..data, which is swapped by a rename.
    mkdirSync(path.join(dir, '..v1'));
    writeFileSync(path.join(dir, '..v1', 'cm.yaml'), svc('cm', '10.0.1.1'));
    symlinkSync('..v1', path.join(dir, '..data'));
    await step('a ConfigMap file appears', () => symlinkSync('..data/cm.yaml', path.join(dir, 'cm.yaml')), (s) => assert.equal(ip(s, 'cm'), ['10.0.1.1']));
    await step('the ConfigMap is updated by swapping ..data', () => {
      mkdirSync(path.join(dir, '..v2'));
      writeFileSync(path.join(dir, '..v2', 'cm.yaml'), svc('cm', '10.0.1.2'));
      symlinkSync('..v2', path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      rmSync(path.join(dir, '..v1'), { recursive: true });
    }, (s) => assert.equal(ip(s, 'cm'), ['10.0.1.2']));
    await step('a directory added later, then a file in it', () => {
      mkdirSync(path.join(dir, 'later'));
      writeFileSync(path.join(dir, 'later', 'b.yaml'), svc('b'));
    }, (s) => assert.ok(s.model.services.has('default/b')));
    await step('a file in the added directory changes in place', () => writeFileSync(path.join(dir, 'later', 'b.yaml'), svc('b', '10.0.2.2')), (s) => assert.equal(ip(s, 'b'), ['10.0.2.2']));
    await step('the root removed', () => rmSync(dir, { recursive: true }), (s) => assert.equal(s.heldBack, [dir]));
    await step('the root re-created', () => {
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'a.yaml'), svc('a', '10.0.0.9'));
    }, (s) => assert.equal(ip(s, 'a'), ['10.0.0.9']));
    // The files the re-created root lacks settle, and the watch wakes the agent when they are due.
    await seen.until(seen.seen + 1, 'settled files are due');
    assert.equal(names(await source.read()), ['default/a']);
    // Same bytes again (a touch, a rewrite): no change is reported.
    const quietFrom = seen.seen;
    writeFileSync(path.join(dir, 'a.yaml'), svc('a', '10.0.0.9'));
    utimesSync(path.join(dir, 'a.yaml'), new Date(), new Date());
    await new Promise((r) => setTimeout(r, 600));
    assert.is(seen.seen, quietFrom, 'rewriting the same bytes is not a change');
  } finally {
    stop();
    rmSync(root, { recursive: true, force: true });
  }
});

watching('a root removed and made again (often with the same inode) is watched again, not only rescanned', async () => {
  const root = tempDir();
  const dir = path.join(root, 'manifests');
  mkdirSync(dir);
  const rescanMs = 4000;
  const source = new ManifestSource([dir], { rescanMs, settleMs: 100 });
  const seen = changes(3 * rescanMs);
  writeFileSync(path.join(dir, 'a.yaml'), svc('a'));
  await source.read();
  const stop = source.watch(seen.onChange);
  try {
    await new Promise((r) => setTimeout(r, 200));
    rmSync(dir, { recursive: true });
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'a.yaml'), svc('a', '10.0.0.5'));
    // The re-created root is found by a rescan; the one after it has renewed the watcher.
    for (let n = seen.seen + 1; ; n = seen.seen + 1) {
      await seen.until(n, 'the re-created root');
      if ((await source.read()).model.endpoints.get('default/a/http')?.[0]?.ip === '10.0.0.5') break;
    }
    await new Promise((r) => setTimeout(r, 200));
    const before = seen.seen;
    const started = performance.now();
    writeFileSync(path.join(dir, 'a.yaml'), svc('a', '10.0.0.6'));
    await seen.until(before + 1, 'an in-place write in the re-created root');
    const ms = performance.now() - started;
    assert.ok(ms < rescanMs / 2, `seen after ${ms.toFixed(0)} ms: by the rescan, not by a watcher`);
  } finally {
    stop();
    rmSync(root, { recursive: true, force: true });
  }
});

/** A stand-in for fs.watch's FSWatcher that a test can make fail. */
class FailingWatcher extends EventEmitter {
  closed = false;
  close() {
    this.closed = true;
  }
  ref() {
    return this;
  }
  unref() {
    return this;
  }
}

watching('a watcher that emits error is closed and made again; the source keeps seeing changes', async () => {
  const dir = tempDir();
  const made: { dir: string; watcher: FailingWatcher }[] = [];
  const source = new ManifestSource([dir], {
    rescanMs: 100,
    watchDirectory: (watched) => {
      const watcher = new FailingWatcher();
      made.push({ dir: watched, watcher });
      return watcher as unknown as FSWatcher;
    },
  });
  const seen = changes();
  writeFileSync(path.join(dir, 'a.yaml'), svc('a'));
  await source.read();
  const stop = source.watch(seen.onChange);
  try {
    for (let i = 0; i < 100 && made.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.is(made.length, 1, 'one watcher for the directory');
    // An unhandled 'error' on an EventEmitter throws; the source must have a listener.
    assert.not.throws(() => made[0]!.watcher.emit('error', Object.assign(new Error('EACCES: permission denied, watch'), { code: 'EACCES' })));
    assert.ok(made[0]!.watcher.closed, 'the failed watcher is closed');
    for (let i = 0; i < 100 && made.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(made.map((m) => m.dir), [dir, dir], 'a new watcher for the same directory');
    // No watcher event will come (they are stand-ins): the rescan alone must see the change.
    const before = seen.seen;
    writeFileSync(path.join(dir, 'a.yaml'), svc('a', '10.0.0.7'));
    await seen.until(before + 1, 'a change after the watcher failed');
    assert.equal((await source.read()).model.endpoints.get('default/a/http')?.map((e) => e.ip), ['10.0.0.7']);
  } finally {
    stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

watching.run();
