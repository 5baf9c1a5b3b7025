// The demo's sandbox: it creates its netns (with the addresses on loopback), cgroup, pin and temp
// directories, and removes all of them: after a normal run, after create() fails half-way, and
// when the process dies of an uncaught error without calling cleanup().
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { Sandbox } from '../../src/demo/sandbox.ts';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function gone(s: { netns: string; cgroup: string; pin: string; tmp: string }): void {
  const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.not.ok(namespaces.split('\n').some((l) => l.split(' ')[0] === s.netns), `netns ${s.netns} is gone`);
  for (const path of [s.cgroup, s.pin, s.tmp]) assert.not.ok(existsSync(path), `${path} is gone`);
}

kernelSuite('demo sandbox', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('create, then cleanup removes everything', async () => {
    const sandbox = new Sandbox({ prefix: 'meshc-test-sandbox' });
    try {
      sandbox.create(['10.96.200.1', '10.244.200.1']);
      const addrs = spawnSync('ip', ['-n', sandbox.netns, '-4', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' }).stdout;
      assert.match(addrs, '10.96.200.1/32');
      assert.match(addrs, '10.244.200.1/32');
      assert.ok(existsSync(`${sandbox.cgroup}/cgroup.procs`));
      assert.ok(existsSync(sandbox.pin));
      // A client joins the cgroup and the namespace: it sees the namespace's addresses only.
      const client = sandbox.spawnClient('sh', ['-c', 'cat /proc/self/cgroup; ip -4 -o addr show dev lo']);
      let out = '';
      client.stdout!.on('data', (d) => (out += d));
      await new Promise((resolve) => client.once('close', resolve));
      assert.match(out, `0::/${sandbox.name}`);
      assert.match(out, '10.244.200.1/32');
      assert.equal(sandbox.leftovers().length, 4);
    } finally {
      assert.equal(await sandbox.cleanup(), []);
    }
    gone(sandbox);
    assert.equal(sandbox.leftovers(), []);
  });

  test('create() failing half-way (a bad address) still cleans up what it made', async () => {
    const sandbox = new Sandbox({ prefix: 'meshc-test-sandbox' });
    assert.throws(() => sandbox.create(['10.96.200.1', 'not-an-address']), /ip -n meshc-test-sandbox-\w+ addr add not-an-address\/32/);
    assert.equal(await sandbox.cleanup(), []);
    gone(sandbox);
  });

  test('an uncaught error in the process: the exit listener removes everything', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/demo/scripts/sandbox-crash.ts'], { cwd: ROOT, encoding: 'utf8' });
    assert.is.not(r.status, 0);
    assert.match(r.stderr, 'crash on purpose');
    const made = JSON.parse(r.stdout.trim().split('\n')[0]!);
    gone(made);
  });
});
