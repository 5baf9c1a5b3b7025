// Churn, restart and bad input, with real connections: the agent's updates are atomic per
// service, survive a kill -9, and never take the last good state down.
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { allowedDuring, Lab, ROOT, serviceManifest, tally, until, type Change, type ConnectionRecord } from './live/lab.ts';
import { Agent } from '../../src/agent/agent.ts';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { randoms } from '../helpers/policy-harness.ts';

const POOL = ['10.244.2.1', '10.244.2.2', '10.244.2.3', '10.244.2.4', '10.244.2.5', '10.244.2.6', '10.244.2.7', '10.244.2.8'];
const VIP = '10.96.2.1';
const OBJECTS = path.join(ROOT, 'build');

kernelSuite('meshc agent: churn, restart, bad manifests', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('1,000 endpoint changes under 4 looping clients: no connection outside the old or new set, none failed', async () => {
    if (!existsSync(path.join(OBJECTS, 'meshc.bpf.o'))) assert.unreachable('build/meshc.bpf.o missing: run npm run build');
    const lab = new Lab(POOL, [VIP]);
    let agent: Agent | undefined;
    try {
      await lab.startPods();
      let current = new Set(POOL.slice(0, 3));
      const source = {
        read: async () => {
          const text = serviceManifest('churn', VIP, [...current].sort().map((ip) => ({ ip })));
          const model = buildModel(parseManifests(text, 'churn.yaml'), { synthesize: false });
          return { model, diagnostics: model.diagnostics };
        },
      };
      agent = new Agent({ source, cgroup: lab.cgroup, pin: lab.pin, node: 'node-1', objectDir: OBJECTS, log: () => {} });
      await agent.start();
      const changes: Change[] = [{ start: 0n, end: process.hrtime.bigint(), set: new Set(current) }];
      const clients = [0, 1, 2, 3].map(() => lab.client(['tcp', VIP, '80', '0']));
      await new Promise((r) => setTimeout(r, 300));
      const rng = randoms(4242);
      let switched = 0;
      let realChanges = 0;
      for (let i = 0; i < 1000; i++) {
        const ip = POOL[(rng.next().value as number) % POOL.length]!;
        const next = new Set(current);
        if (next.has(ip) && next.size > 1) next.delete(ip);
        else next.add(ip);
        const start = process.hrtime.bigint();
        if (next.size !== current.size) realChanges++;
        current = next;
        const result = await agent.sync();
        switched += result.stats.servicesChanged;
        changes.push({ start, end: process.hrtime.bigint(), set: new Set(next) });
        if (i % 50 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      for (const c of clients) c.stdin!.end();
      const records: ConnectionRecord[] = (await Promise.all(clients.map((c) => c.done))).flat();
      assert.ok(records.length > 500, `only ${records.length} connections were made`);
      const failed = records.filter((r) => r.error);
      assert.equal(failed.slice(0, 3), [], `${failed.length} of ${records.length} connections failed`);
      const outside = records.filter((r) => !allowedDuring(changes, BigInt(r.t0), BigInt(r.t1)).has(r.backend!));
      assert.equal(outside.slice(0, 3), [], `${outside.length} of ${records.length} went outside the old or new set`);
      // Each change switches the Service's two frontends (TCP 80 and UDP 53), and nothing else;
      // adding an endpoint that is already there changes nothing and writes nothing.
      assert.ok(realChanges > 900, `${realChanges} real changes`);
      assert.is(switched, 2 * realChanges);
      // After 1,000 syncs the maps hold exactly what the agent wrote: its audit finds nothing to repair.
      assert.equal(agent.auditMaps(), []);
    } finally {
      agent?.close();
      lab.dispose();
    }
  });

  test('kill -9 while clients connect: no failure; the restarted agent adopts and applies what changed meanwhile', async () => {
    const lab = new Lab(POOL.slice(0, 4), [VIP]);
    try {
      await lab.startPods();
      lab.write('svc.yaml', serviceManifest('web', VIP, POOL.slice(0, 2).map((ip) => ({ ip }))));
      const first = await lab.startAgent();
      const clients = [0, 1].map(() => lab.client(['tcp', VIP, '80', '0']));
      // Counted in connections, not in time: a loaded machine may start the clients late.
      const made = () => clients.reduce((n, c) => n + c.records.length, 0);
      await until('connections before the kill', () => made() > 10);
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      lab.write('svc.yaml', serviceManifest('web', VIP, [POOL[1]!, POOL[3]!].map((ip) => ({ ip }))));
      const down = made();
      await until('connections while the agent is down', () => made() > down + 10);
      const killedAt = process.hrtime.bigint();
      const second = await lab.startAgent();
      const adopted = (second as unknown as { log: string[] }).log.some((l) => l.includes('adopted pinned state'));
      const restartedAt = process.hrtime.bigint();
      await until('connections after the restart', () => clients.flatMap((c) => c.records).filter((r) => BigInt(r.t0) > restartedAt).length > 10);
      for (const c of clients) c.stdin!.end();
      const records = (await Promise.all(clients.map((c) => c.done))).flat();
      assert.ok(adopted, 'the second agent adopted the pinned state');
      const failed = records.filter((r) => r.error);
      assert.equal(failed.slice(0, 3), [], `${failed.length} of ${records.length} failed`);
      const beforeRestart = records.filter((r) => BigInt(r.t1) < killedAt);
      const afterRestart = records.filter((r) => BigInt(r.t0) > restartedAt);
      assert.ok(beforeRestart.length > 10 && afterRestart.length > 10, `${beforeRestart.length} before, ${afterRestart.length} after`);
      assert.equal([...tally(beforeRestart).keys()].sort(), POOL.slice(0, 2), 'while the agent was down, the old set kept routing');
      assert.equal([...tally(afterRestart).keys()].sort(), [POOL[1]!, POOL[3]!], 'the change made while it was down is applied');
    } finally {
      lab.dispose();
    }
  });

  test('a broken manifest on a watched directory is reported and the maps keep their last good state', async () => {
    const lab = new Lab(POOL.slice(0, 3), [VIP]);
    try {
      await lab.startPods();
      lab.write('svc.yaml', serviceManifest('web', VIP, POOL.slice(0, 2).map((ip) => ({ ip }))));
      const agent = await lab.startAgent();
      const mark = lab.logMark(agent);
      lab.write('svc.yaml', `${serviceManifest('web', VIP, [{ ip: POOL[2]! }])}\n  broken: [unclosed\n`);
      await lab.agentLogs(agent, /svc\.yaml.*(YAML|syntax)/i, mark);
      await lab.agentLogs(agent, /last good version stays in force/, mark);
      assert.equal([...tally(await lab.connections(VIP, 80, 40)).keys()].sort(), POOL.slice(0, 2));
      const fixed = lab.logMark(agent);
      lab.write('svc.yaml', serviceManifest('web', VIP, [{ ip: POOL[2]! }]));
      await lab.agentLogs(agent, /synced 2 service frontends.*[1-9]\d* services switched/, fixed);
      assert.equal([...tally(await lab.connections(VIP, 80, 20)).keys()], [POOL[2]!]);
    } finally {
      lab.dispose();
    }
  });
});
