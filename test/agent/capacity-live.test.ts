// Issue 11 item 4 end to end: `meshc agent --watch` on 600 Maglev Services whose endpoints all
// change (old and new rings, 1,225,200 rows, cannot be in mc_maglev's 1,048,576 at once), then 430
// Services more (1,030 rings, 1,027 fit), with clients looping connects to three of the Services.
// The change is applied in steps that fit, the maps end equal to the manifests; what truly cannot
// fit is logged per Service and the rest applied; no connection fails or reaches a pod outside
// the sets in force. Each sync gets a generous bound (SYNC_MS); bench/agent-recovery.ts has figures.
import * as assert from 'uvu/assert';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { Lab, judge, type Change, type ConnectionRecord } from './live/lab.ts';
import { expectedMaps, readPins, shape } from './live/maps.ts';
import { decodeServices } from '../../src/inspect/decode.ts';
import { maglevPair as pair, maglevPod as pod, maglevVip as vip, maglevWorld as world, POOL } from './live/capacity.ts';

const SERVICES = 600;
const MORE = 430;
const SYNC_MS = 240_000;
const SAMPLED = [0, 299, 599];

kernelSuite('meshc agent: changes larger than the maps hold twice, live', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('600 Maglev Services whose endpoints all change, then 430 more: steps that fit, per-Service reports, 0 failed, 0 misrouted', async () => {
    const pods = [0, 1].flatMap((g) => Array.from({ length: POOL }, (_, i) => pod(g, i)));
    const lab = new Lab(pods, SAMPLED.map(vip));
    try {
      await lab.startPods();
      lab.write('maglev.yaml', world(0, 0, SERVICES));
      const agent = await lab.startAgent(undefined, { extra: ['--audit-seconds', '0'] });
      const changes = SAMPLED.map((s) => [{ start: 0n, end: process.hrtime.bigint(), set: new Set(pair(0, s)) }] as Change[]);
      const clients = SAMPLED.map((s) => lab.client(['tcp', vip(s), '80', '0']));
      await new Promise((r) => setTimeout(r, 500));

      // Every endpoint changes.
      let mark = lab.logMark(agent);
      let t0 = process.hrtime.bigint();
      lab.write('maglev.yaml', world(1, 0, SERVICES));
      const stepped = await lab.agentLogs(agent, /synced 600 service frontends.* in \d+ steps \(old and new rows did not fit the maps at once\)/, mark, SYNC_MS);
      const changedMs = Number(process.hrtime.bigint() - t0) / 1e6;
      SAMPLED.forEach((s, k) => changes[k]!.push({ start: t0, end: process.hrtime.bigint(), set: new Set(pair(1, s)) }));
      const want = expectedMaps(world(1, 0, SERVICES));
      const { input, counts } = readPins(lab.pin);
      const have = decodeServices(input);
      assert.equal(have.problems, []);
      assert.equal([...shape(have)].sort(), [...want.shape].sort(), 'the maps hold the new endpoints of every Service');
      assert.equal([...counts].sort(), [...want.counts].sort());

      // 430 more: 3 rings do not fit. Each is named; the others are applied.
      mark = lab.logMark(agent);
      t0 = process.hrtime.bigint();
      lab.write('more.yaml', world(1, SERVICES, MORE));
      await lab.agentLogs(agent, /synced 1030 service frontends/, mark, SYNC_MS);
      const moreMs = Number(process.hrtime.bigint() - t0) / 1e6;
      await new Promise((r) => setTimeout(r, 200));
      const log = (agent as unknown as { log: string[] }).log.slice(mark);
      const notApplied = log.filter((l) => /: not applied: map mc_maglev is full: needs 1021 more rows, \d+ of 1048576 free; it is not routed \(retried on the next sync\)/.test(l));
      assert.is(notApplied.length, 3, log.slice(0, 10).join('\n'));
      const named = notApplied.map((l) => Number(/Service default\/m(\d+) port 80\/TCP/.exec(l)![1]));
      assert.ok(named.every((s) => s >= SERVICES), `only new Services are left out: ${named}`);
      const after = shape(decodeServices(readPins(lab.pin).input));
      assert.is(after.size, SERVICES + MORE - 3);
      for (const s of named) assert.not.ok(after.has(`${vip(s)}:80/TCP`));

      await new Promise((r) => setTimeout(r, 500));
      for (const c of clients) c.stdin!.end();
      const records: ConnectionRecord[][] = await Promise.all(clients.map((c) => c.done));
      let total = 0;
      SAMPLED.forEach((s, k) => {
        const { failed, misrouted } = judge(records[k]!, changes[k]!);
        total += records[k]!.length;
        assert.ok(records[k]!.length > 20, `${vip(s)}: only ${records[k]!.length} connections`);
        assert.equal(failed.slice(0, 3), [], `${vip(s)}: ${failed.length} of ${records[k]!.length} failed`);
        assert.equal(misrouted.slice(0, 3), [], `${vip(s)}: ${misrouted.length} of ${records[k]!.length} outside the old or new pair`);
      });
      console.log(`  ${stepped.replace(/^agent: /, '')}; seen ${changedMs.toFixed(0)} ms after the write; 430 more in ${moreMs.toFixed(0)} ms; ${total} connections, 0 failed, 0 misrouted`);
      assert.ok(changedMs < SYNC_MS && moreMs < SYNC_MS);
    } finally {
      lab.dispose();
    }
  });
});
