// The agent owns its links and its pin directory (issue 11 item 5), with real connections from a
// looping client: a `meshc agent --detach` from another shell is noticed and undone within
// seconds; a second agent on the same pins is refused; a second meshc on a cgroup that one
// already routes is refused unless --force-attach; a lock left by a kill -9 is taken over.
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { kernelSkipReason, kernelSuite, makePinDir } from '../kernel/env.ts';
import { Lab, serviceManifest, tally, until, type ConnectionRecord } from './live/lab.ts';

const PODS = ['10.244.5.1', '10.244.5.2'];
const VIP = '10.96.5.1';


/** Detaches the other meshc's pins, stops the client and asserts every connection reached the agent's pod. */
async function detachOtherAndEnd(lab: Lab, otherPin: string, client: ReturnType<Lab['client']>): Promise<ConnectionRecord[]> {
  const detached = lab.meshc('agent', '--detach', '--pin', otherPin);
  assert.is(detached.status, 0, detached.stderr);
  await new Promise((r) => setTimeout(r, 300));
  client.stdin!.end();
  const records = await client.done;
  const wrong = records.filter((c) => c.error || c.backend !== PODS[0]);
  assert.ok(records.length > 10, `${records.length} connections`);
  assert.equal(wrong.slice(0, 3), [], `${wrong.length} of ${records.length} failed or went elsewhere`);
  return records;
}

kernelSuite('meshc agent: it owns its links and its pin directory', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('a detach from elsewhere is undone within seconds; before and after it every connection reaches a pod', async () => {
    const lab = new Lab(PODS, [VIP]);
    try {
      await lab.startPods();
      lab.write('svc.yaml', serviceManifest('web', VIP, PODS.map((ip) => ({ ip }))));
      const agent = await lab.startAgent();
      const client = lab.client(['tcp', VIP, '80', '0']);
      await until('connections before the detach', () => client.records.length > 10);
      const mark = lab.logMark(agent);
      const detachedAt = process.hrtime.bigint();
      const r = lab.meshc('agent', '--detach', '--pin', lab.pin);
      // The hooks are gone once the detach command has run (its own start-up, seconds on a loaded
      // machine, is not the agent's to answer for): the agent's time counts from there.
      const goneAt = process.hrtime.bigint();
      assert.is(r.status, 0, r.stderr);
      assert.match(r.stderr, /a meshc agent \(pid \d+\) runs on .* puts its hooks back/);
      await lab.agentLogs(agent, /hook mc_\w+: detached from outside; attached again/, mark, 10000);
      await lab.agentLogs(agent, /map mc_services: its pin was removed; pinned again/, mark, 10000);
      const restoredAt = process.hrtime.bigint();
      const recoveryMs = Number(restoredAt - goneAt) / 1e6;
      assert.ok(recoveryMs < 5000, `restored ${recoveryMs.toFixed(0)} ms after the detach command ended (${(Number(restoredAt - detachedAt) / 1e6).toFixed(0)} ms after it started)`);
      await until('connections after the restore', () => client.records.filter((c) => BigInt(c.t0) > restoredAt).length > 10);
      client.stdin!.end();
      const records: ConnectionRecord[] = await client.done;
      const before = records.filter((c) => BigInt(c.t1) < detachedAt);
      const after = records.filter((c) => BigInt(c.t0) > restoredAt);
      const during = records.filter((c) => !before.includes(c) && !after.includes(c));
      assert.ok(before.length > 10 && after.length > 10, `${before.length} before, ${after.length} after`);
      for (const [label, set] of [['before the detach', before], ['after the restore', after]] as const) {
        const wrong = set.filter((c) => c.error || !PODS.includes(c.backend!));
        assert.equal(wrong.slice(0, 3), [], `${label}: ${wrong.length} of ${set.length} failed or went elsewhere`);
      }
      // In the gap between the detach and the restore a connect() is not translated (it reaches the
      // ClusterIP's own listener); it never reaches a wrong pod and never fails.
      assert.ok(during.every((c) => !c.error && (PODS.includes(c.backend!) || c.backend === 'untranslated')), JSON.stringify(tally(during)));
      console.log(`  detach undone in ${recoveryMs.toFixed(0)} ms; ${during.length} connections in the gap: ${JSON.stringify([...tally(during)])}`);
      // The restored pins are the agent's: inspect reads the same rows as before.
      const inspect = lab.meshc('inspect', '--pin', lab.pin, '--json');
      assert.is(inspect.status, 0, inspect.stderr);
      assert.match(inspect.stdout, /10\.96\.5\.1/);
    } finally {
      lab.dispose();
    }
  });

  test('hooks it cannot put back (its cgroup removed): /readyz 503 with the reason within seconds; ready and routing again once the cgroup is back', async () => {
    const lab = new Lab(PODS, [VIP]);
    try {
      await lab.startPods();
      lab.write('svc.yaml', serviceManifest('web', VIP, [{ ip: PODS[0]! }]));
      const agent = await lab.startAgent(undefined, { extra: ['--metrics-port', '0'] });
      const port = Number(/metrics on \S+:(\d+) /.exec((agent as unknown as { log: string[] }).log.find((l) => /metrics on /.test(l))!)![1]);
      const readyz = async () => {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        return { status: r.status, text: await r.text() };
      };
      assert.is((await readyz()).status, 200);
      // No process is in the cgroup, so it can go (its attached hooks go with it).
      let mark = lab.logMark(agent);
      const removedAt = performance.now();
      rmdirSync(lab.cgroup);
      await lab.agentLogs(agent, /cannot put back the hooks on .*ENOENT.*; not ready until they are/, mark, 10000);
      const noticedMs = performance.now() - removedAt;
      const notReady = await readyz();
      assert.is(notReady.status, 503);
      assert.match(notReady.text, /cannot put back the hooks/);
      assert.ok(noticedMs < 5000, `noticed after ${noticedMs.toFixed(0)} ms`);
      mark = lab.logMark(agent);
      const backAt = performance.now();
      mkdirSync(lab.cgroup);
      await lab.agentLogs(agent, /hooks and pins are in place again/, mark, 10000);
      await lab.agentLogs(agent, /hook mc_\w+: detached from outside; attached again/, mark, 10000);
      const restoredMs = performance.now() - backAt;
      assert.is((await readyz()).status, 200);
      const records = await lab.connections(VIP, 80, 30);
      assert.equal([...tally(records)], [[PODS[0]!, 30]], 'the new cgroup is routed');
      assert.ok(restoredMs < 5000, `restored after ${restoredMs.toFixed(0)} ms`);
      console.log(`  cgroup removed: not ready after ${noticedMs.toFixed(0)} ms; re-created: ready and routing after ${restoredMs.toFixed(0)} ms`);
    } finally {
      lab.dispose();
    }
  });

  test('a second agent on the same pin directory is refused; a lock left by kill -9 is taken over', async () => {
    const lab = new Lab(PODS, [VIP]);
    try {
      await lab.startPods();
      lab.write('svc.yaml', serviceManifest('web', VIP, [{ ip: PODS[0]! }]));
      const first = await lab.startAgent();
      const second = lab.meshc('agent', '--manifests', lab.manifests, '--cgroup', lab.cgroup, '--pin', lab.pin);
      assert.is(second.status, 1, second.stderr);
      assert.match(second.stderr, new RegExp(`${lab.pin} is in use by another meshc agent \\(pid ${first.pid}\\): one agent per pin directory`));
      assert.equal([...tally(await lab.connections(VIP, 80, 20)).keys()], [PODS[0]!], 'the first agent routes on');
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      lab.write('svc.yaml', serviceManifest('web', VIP, [{ ip: PODS[1]! }]));
      const third = await lab.startAgent();
      assert.ok((third as unknown as { log: string[] }).log.some((l) => new RegExp(`took over .* from pid ${first.pid}, which is gone`).test(l)));
      assert.equal([...tally(await lab.connections(VIP, 80, 20)).keys()], [PODS[1]!]);
    } finally {
      lab.dispose();
    }
  });

  test('another pin directory on a routed cgroup is refused unless --force-attach', async () => {
    const lab = new Lab(PODS, [VIP]);
    const otherPin = makePinDir('ownership-other');
    try {
      await lab.startPods();
      lab.write('svc.yaml', serviceManifest('web', VIP, [{ ip: PODS[0]! }]));
      await lab.startAgent();
      const client = lab.client(['tcp', VIP, '80', '0']);
      const refused = lab.meshc('agent', '--manifests', lab.manifests, '--cgroup', lab.cgroup, '--pin', otherPin);
      assert.is(refused.status, 1, refused.stderr);
      assert.match(refused.stderr, /is already routed by another meshc: mc_\w+ \(program \d+\) on .*pass --force-attach/);
      const forced = lab.meshc('agent', '--manifests', lab.manifests, '--cgroup', lab.cgroup, '--pin', otherPin, '--force-attach');
      assert.is(forced.status, 0, forced.stderr);
      assert.match(forced.stderr, /--force-attach: attaching beside another meshc's hooks/);
      await detachOtherAndEnd(lab, otherPin, client);
    } finally {
      lab.dispose();
      rmSync(otherPin, { recursive: true, force: true });
    }
  });
  test('pins replaced from outside (another meshc\'s link and map moved over its own) are noticed and put back within seconds; the other never decides', async () => {
    const lab = new Lab(PODS, [VIP]);
    const otherPin = makePinDir('ownership-replaced');
    try {
      await lab.startPods();
      lab.write('svc.yaml', serviceManifest('web', VIP, [{ ip: PODS[0]! }]));
      const agent = await lab.startAgent();
      const client = lab.client(['tcp', VIP, '80', '0']);
      // Another meshc, forced onto the cgroup, that would send web to the other pod.
      const otherManifests = path.join(lab.dir, 'other');
      mkdirSync(otherManifests);
      lab.write('../other/svc.yaml', serviceManifest('web', VIP, [{ ip: PODS[1]! }]));
      const forced = lab.meshc('agent', '--manifests', otherManifests, '--cgroup', lab.cgroup, '--pin', otherPin, '--force-attach');
      assert.is(forced.status, 0, forced.stderr);
      await until('connections before the swap', () => client.records.length > 10);
      const mark = lab.logMark(agent);
      const replacedAt = performance.now();
      const link = readdirSync(path.join(otherPin, 'links')).find((n) => /^mc_sock4_connect/.test(n))!;
      renameSync(path.join(otherPin, 'links', link), path.join(lab.pin, 'links', link));
      renameSync(path.join(otherPin, 'maps', 'mc_services'), path.join(lab.pin, 'maps', 'mc_services'));
      await lab.agentLogs(agent, new RegExp(`hook ${link}: its pin was replaced by another link; pinned again`), mark, 10000);
      await lab.agentLogs(agent, /map mc_services: its pin was replaced; pinned again/, mark, 10000);
      const restoredMs = performance.now() - replacedAt;
      const inspect = lab.meshc('inspect', '--json', '--pin', lab.pin);
      assert.is(inspect.status, 0, inspect.stderr);
      assert.equal(JSON.parse(inspect.stdout).services.find((s: { port: number }) => s.port === 80).backends.map((b: { ip: string }) => b.ip), [PODS[0]!], 'the pins are the agent\'s own again');
      const records = await detachOtherAndEnd(lab, otherPin, client);
      console.log(`  pins replaced: put back after ${restoredMs.toFixed(0)} ms; ${records.length} connections, all to the agent's pod`);
      assert.ok(restoredMs < 5000, `put back after ${restoredMs.toFixed(0)} ms`);
    } finally {
      lab.dispose();
      rmSync(otherPin, { recursive: true, force: true });
    }
  });
});
