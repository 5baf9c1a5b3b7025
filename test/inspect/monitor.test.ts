// meshc monitor on a live agent: fixtures/demo synced into a pin directory of the test's own,
// pods in a network namespace of its own, a client in a cgroup of its own making K HTTP requests
// (a new connection each) to product-api's ClusterIP. `meshc monitor --json --count 3K` must show,
// per connection (socket cookie), one translated, one established and one closed event, with the
// service's name, a backend pod that served it, and the client's cgroup by id and path.
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CLUSTER_IPS, PODS, runningPods, INITIAL_STATE } from '../../src/demo/manifests.ts';
import { Sandbox } from '../../src/demo/sandbox.ts';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { openMeshcMap } from '../../src/inspect/read.ts';
import { MC_EV } from '../../src/generated/glue.ts';
import { callMeshc, ROOT, spawnMeshc } from '../helpers/meshc.ts';

const K = 12;

/** Parsed JSON lines, checked field by field. */
type Obj = any;

function lineWaiter(stream: NodeJS.ReadableStream) {
  const lines: string[] = [];
  const waiters: { match: RegExp; done: (line: string) => void }[] = [];
  createInterface({ input: stream }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) if (w.match.test(line)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.done(line);
    }
  });
  return {
    lines,
    wait(match: RegExp, ms: number): Promise<string> {
      const seen = lines.find((l) => match.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${match} in ${ms} ms; got:\n${lines.join('\n')}`)), ms);
        waiters.push({ match, done: (line) => { clearTimeout(timer); resolve(line); } });
      });
    },
  };
}

kernelSuite('monitor: one translated event per connection', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test(`${K} connections: translated, established and closed each, named, with the cgroup`, async () => {
    const sandbox = new Sandbox({ prefix: 'meshc-test-monitor' });
    try {
      sandbox.create([...Object.values(CLUSTER_IPS), ...PODS.map((p) => p.ip)]);
      const agent = spawnMeshc(['agent', '--manifests', 'fixtures/demo', '--cgroup', sandbox.cgroup, '--pin', sandbox.pin], { stdio: ['ignore', 'ignore', 'pipe'] });
      let agentErr = '';
      agent.stderr!.on('data', (d) => (agentErr += d));
      const [agentCode] = await once(agent, 'exit');
      assert.is(agentCode, 0, agentErr);

      const pods = sandbox.spawnInNetns(process.execPath, [`${ROOT}/src/demo/pods.mjs`]);
      const podLines = lineWaiter(pods.stdout!);
      const running = runningPods(INITIAL_STATE);
      for (const pod of running) pods.stdin!.write(`start ${pod.name} ${pod.ip} 8080\n`);
      for (const pod of running) await podLines.wait(new RegExp(`^started ${pod.name}$`), 10_000);

      const monitor = spawnMeshc(['monitor', '--json', '--count', String(3 * K), '--pin', sandbox.pin], { stdio: ['ignore', 'pipe', 'pipe'] });
      const monitorExit = once(monitor, 'exit'); // it may finish while the client is still exiting
      const monitorOut = lineWaiter(monitor.stdout!);
      const monitorErr = lineWaiter(monitor.stderr!);
      await monitorErr.wait(/^monitor: reading events from /, 15_000);

      const client = sandbox.spawnClient(process.execPath, [`${ROOT}/src/demo/client.mjs`, `http://${CLUSTER_IPS['product-api']}/`, String(K), '1']);
      let clientOut = '';
      client.stdout!.on('data', (d) => (clientOut += d));
      const [clientCode] = await once(client, 'exit');
      assert.is(clientCode, 0);
      const served = JSON.parse(clientOut);
      assert.is(served.failed, 0, JSON.stringify(served.errors));

      const timer = setTimeout(() => monitor.kill('SIGTERM'), 10_000);
      const [monitorCode] = await monitorExit;
      clearTimeout(timer);
      assert.is(monitorCode, 0, `monitor exit (killed after 10 s means fewer than ${3 * K} events): ${monitorErr.lines.join('\n')}`);

      const events: Obj[] = monitorOut.lines.map((l) => JSON.parse(l));
      assert.is(events.length, 3 * K);
      const cgroupId = String(statSync(sandbox.cgroup, { bigint: true }).ino);
      const byCookie = new Map<string, Obj[]>();
      for (const e of events) byCookie.set(e.cookie, [...(byCookie.get(e.cookie) ?? []), e]);
      assert.is(byCookie.size, K, 'one socket cookie per connection');
      const podNames = new Set(running.map((p) => `default/${p.name}`));
      const seen = new Map<string, number>();
      for (const [cookie, list] of byCookie) {
        assert.equal(list.map((e) => e.event), ['translated', 'established', 'closed'], `cookie ${cookie}`);
        for (const e of list) {
          assert.is(e.service.name, 'default/product-api:80/TCP');
          assert.is(e.protocol, 'TCP');
          assert.equal(e.cgroup, { id: cgroupId, path: `/${sandbox.name}` });
          assert.ok(podNames.has(e.backend.name), e.backend.name);
          assert.is(e.backend.name, list[0].backend.name, 'one backend per connection');
        }
        seen.set(list[0].backend.name, (seen.get(list[0].backend.name) ?? 0) + 1);
      }
      // What the pods answered is what the events say, pod by pod.
      assert.equal(Object.fromEntries([...seen].map(([pod, n]) => [pod.slice('default/'.length), n]).sort()), Object.fromEntries(Object.entries(served.pods).sort()));

      // Without --count it runs until a signal, and a signal is a clean exit.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        const endless = spawnMeshc(['monitor', '--pin', sandbox.pin], { stdio: ['ignore', 'pipe', 'pipe'] });
        const exited = once(endless, 'exit');
        await lineWaiter(endless.stderr!).wait(/^monitor: reading events from /, 15_000);
        endless.kill(signal);
        const [code, killedBy] = await exited;
        assert.equal([code, killedBy], [0, null], `${signal}`);
      }

      // The hooks write only the event types asked for, and none once the monitor is gone.
      const config = openMeshcMap(sandbox.pin, 'mc_config');
      try {
        const only = spawnMeshc(['monitor', '--type', 'translated', '--pin', sandbox.pin], { stdio: ['ignore', 'pipe', 'pipe'] });
        const exited = once(only, 'exit');
        await lineWaiter(only.stderr!).wait(/^monitor: reading events from /, 15_000);
        assert.is(config.lookup(Buffer.alloc(4))!.readUInt32LE(0), 1 << MC_EV.translate);
        only.kill('SIGTERM');
        await exited;
        assert.is(config.lookup(Buffer.alloc(4))!.readUInt32LE(0), 0);
      } finally {
        config.close();
      }
    } finally {
      assert.equal(await sandbox.cleanup(), []);
    }
  });
});

const usage = suite('monitor: usage');

usage('bad options and a missing pin directory are reported by name', async () => {
  const run = (...args: string[]) => callMeshc('monitor', ...args);
  const badType = await run('--type', 'translated,bogus');
  assert.is(badType.status, 2);
  assert.match(badType.stderr, '--type "bogus" is not one of translated, refused, established, closed');
  assert.is((await run('--count', '0')).status, 2);
  const missing = await run('--pin', '/nonexistent/meshc-pin');
  assert.is(missing.status, 1);
  assert.match(missing.stderr, 'no pinned meshc maps at /nonexistent/meshc-pin: is the agent running?');
});

usage.run();
