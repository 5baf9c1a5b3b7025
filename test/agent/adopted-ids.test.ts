// Issue 11 item 4, "free before you allocate", end to end: an agent restarted on pins that hold
// 262,000 frontends a previous agent wrote (filled here while no agent runs, pointing at web's
// table), with manifests that now say web and 300 new Services. Ids of the adopted frontends that
// are gone must be freed before the new ones take any: with 262,144 service ids, allocating first
// runs out (`out of service ids`) and the new set fails. A client loops connects to web the whole
// time: none may fail or reach a pod outside the sets in force, and the restart must sync within a
// generous bound (SYNC_MS).
import * as assert from 'uvu/assert';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { MAX_SERVICES } from '../../src/generated/constants.ts';
import { decodeServices } from '../../src/inspect/decode.ts';
import { Lab, serviceManifest, tally, type Change, endClients } from './live/lab.ts';
import { expectedMaps, readPins, shape } from './live/maps.ts';
import { fillAdoptedFrontends } from './live/capacity.ts';

const PODS = ['10.244.8.1', '10.244.8.2'];
const VIP = '10.96.8.1';
const ADOPTED = 262_000;
const NEW = 300;
const SYNC_MS = 120_000;
const newVip = (s: number) => `10.97.${s >> 8}.${s & 255}`;

kernelSuite('meshc agent: restarted on 262,000 adopted frontends', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('the adopted ids are freed before 300 new Services take theirs: all routed, 0 failed, 0 misrouted', async () => {
    const lab = new Lab(PODS, [VIP, newVip(0), newVip(NEW - 1)]);
    try {
      await lab.startPods();
      const web = (ip: string) => serviceManifest('web', VIP, [{ ip }]);
      lab.write('web.yaml', web(PODS[0]!));
      let agent = await lab.startAgent(undefined, { extra: ['--audit-seconds', '0'] });
      const changes: Change[] = [{ start: 0n, end: process.hrtime.bigint(), set: new Set([PODS[0]!]) }];
      const client = lab.client(['tcp', VIP, '80', '0']);
      await new Promise((r) => setTimeout(r, 300));
      agent.kill('SIGKILL');
      await new Promise((r) => agent.once('exit', r));

      // What a previous agent with 262,000 frontends left: rows at free ids, on web's table.
      assert.is(fillAdoptedFrontends(lab.pin, ADOPTED), ADOPTED + 2, 'the filled rows beside web\'s two');

      // The manifests now: web on the other pod and 300 new Services (602 frontends).
      const fresh = Array.from({ length: NEW }, (_, s) => serviceManifest(`fresh${s}`, newVip(s), [{ ip: PODS[s % 2]! }])).join('---\n');
      lab.write('web.yaml', web(PODS[1]!));
      lab.write('fresh.yaml', fresh);
      assert.ok(ADOPTED + 2 * NEW + 2 > MAX_SERVICES, 'allocating before freeing would run out of ids');
      const start = process.hrtime.bigint();
      agent = await lab.startAgent(undefined, { extra: ['--audit-seconds', '0'], ready: /agent: watching/ });
      const log = (agent as unknown as { log: string[] }).log;
      await lab.agentLogs(agent, new RegExp(`synced ${2 * NEW + 2} service frontends`), 0, SYNC_MS);
      const end = process.hrtime.bigint();
      changes.push({ start, end, set: new Set([PODS[1]!]) });
      const syncMs = Number(end - start) / 1e6;
      assert.ok(log.some((l) => new RegExp(`adopted pinned state .*\\(${ADOPTED + 2} service frontends\\)`).test(l)), log.slice(0, 5).join('\n'));
      assert.not.ok(log.some((l) => /out of service ids|not applied|sync failed/.test(l)), log.join('\n'));

      const want = expectedMaps(`${web(PODS[1]!)}---\n${fresh}`);
      const { input, counts } = readPins(lab.pin);
      const have = decodeServices(input);
      assert.equal(have.problems, []);
      assert.equal([...shape(have)].sort(), [...want.shape].sort(), 'the maps hold exactly the manifests');
      assert.equal([...counts].sort(), [...want.counts].sort(), 'no adopted row is left');
      assert.equal([...tally(await lab.connections(newVip(NEW - 1), 80, 10))], [[PODS[(NEW - 1) % 2]!, 10]], 'a new Service is routed');

      const records = await endClients([client], changes, 50);
      console.log(`  restart on ${ADOPTED} adopted frontends: ${2 * NEW + 2} frontends synced ${syncMs.toFixed(0)} ms after the start; ${records.length} connections, 0 failed, 0 misrouted`);
      assert.ok(syncMs < SYNC_MS, `synced ${syncMs.toFixed(0)} ms after the restart`);
    } finally {
      lab.dispose();
    }
  });
});
