// The settle rule end to end (docs/agent.md): a file that had objects and is emptied keeps them in
// force for 2 s. Refilled within that time, nothing is ever refused; left empty, its Service goes
// after the quiet period, and only its Service. Clients loop connects to both Services meanwhile.
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { Lab, serviceManifest, type ConnectionRecord } from './live/lab.ts';

const PODS = ['10.244.2.1', '10.244.2.2'];
const KEPT_VIP = '10.96.2.1';
const EMPTIED_VIP = '10.96.2.2';
const SETTLE_MS = 2000;

kernelSuite('meshc agent --watch: the settle rule for emptied files', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('refilled within 2 s: never refused; left empty: removed after 2 s, the other file untouched', async () => {
    const lab = new Lab(PODS, [KEPT_VIP, EMPTIED_VIP]);
    try {
      await lab.startPods();
      const kept = path.join(lab.manifests, 'kept.yaml');
      const emptied = path.join(lab.manifests, 'emptied.yaml');
      writeFileSync(kept, serviceManifest('kept', KEPT_VIP, [{ ip: PODS[0]! }]));
      writeFileSync(emptied, serviceManifest('emptied', EMPTIED_VIP, [{ ip: PODS[1]! }]));
      const agent = await lab.startAgent();
      const keptClient = lab.client(['tcp', KEPT_VIP, '80', '0']);
      const emptiedClient = lab.client(['tcp', EMPTIED_VIP, '80', '0']);
      const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
      await pause(300);

      // Emptied (as a truncating writer does), refilled 800 ms later.
      writeFileSync(emptied, '');
      await pause(800);
      writeFileSync(emptied, serviceManifest('emptied', EMPTIED_VIP, [{ ip: PODS[1]! }]));
      await pause(SETTLE_MS + 500);
      const refilledUntil = process.hrtime.bigint();

      // Emptied for good: in force until the quiet period is over, then removed.
      const mark = lab.logMark(agent);
      const emptiedAt = process.hrtime.bigint();
      writeFileSync(emptied, '');
      await lab.agentLogs(agent, /synced 2 service frontends/, mark, SETTLE_MS + 8000);
      const removedAt = process.hrtime.bigint();
      await pause(500);
      for (const c of [keptClient, emptiedClient]) c.stdin!.end();
      const [keptRecords, emptiedRecords] = await Promise.all([keptClient.done, emptiedClient.done]);
      const removedAfterMs = Number(removedAt - emptiedAt) / 1e6;
      assert.ok(removedAfterMs >= SETTLE_MS, `removed ${removedAfterMs.toFixed(0)} ms after emptying, before the quiet period`);
      assert.ok(removedAfterMs < SETTLE_MS + 5000, `removed only ${removedAfterMs.toFixed(0)} ms after emptying`);
      const bad = (records: ConnectionRecord[], pod: string) => records.filter((r) => r.error || r.backend !== pod);
      assert.equal(bad(keptRecords, PODS[0]!).slice(0, 3), [], 'the other file\'s Service is never touched');
      const beforeRemoval = emptiedRecords.filter((r) => BigInt(r.t1) < emptiedAt + BigInt(SETTLE_MS) * 1_000_000n);
      assert.ok(beforeRemoval.filter((r) => BigInt(r.t1) < refilledUntil).length > 50, 'connects while it was refilled');
      assert.equal(bad(beforeRemoval, PODS[1]!).slice(0, 3), [], 'not one connect refused or misrouted while the file settled');
      const after = emptiedRecords.filter((r) => BigInt(r.t0) > removedAt);
      assert.ok(after.length > 0 && after.every((r) => r.error === 'ECONNREFUSED' || r.backend === 'untranslated'), `after removal: ${JSON.stringify(after.slice(0, 2))}`);
    } finally {
      lab.dispose();
    }
  });
});
