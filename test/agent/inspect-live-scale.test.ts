// Issue 11 item 7 on a routed node: `meshc inspect` on the pins of a running `meshc agent --watch`
// that routes 20,000 Services, while a client loops connects in the routed cgroup and the
// Service it dials changes. inspect only reads: it must list every frontend with its backend, say
// what the manifests say of the Service the client dials, and finish within a generous bound
// (INSPECT_MS; the figures for 100,000 frontends are in bench/inspect.ts, and
// test/inspect/inspect-scale.test.ts decodes 100,000). No connection may fail or reach a pod
// outside the sets in force while it reads.
import * as assert from 'uvu/assert';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { Lab, serviceManifest, type Change, endClients } from './live/lab.ts';
import { serviceYaml } from '../helpers/policy-harness.ts';

const SERVICES = 20_000;
const PODS = ['10.244.12.1', '10.244.12.2'];
const VIP = '10.96.12.1';
const SYNC_MS = 300_000;
const INSPECT_MS = 120_000;
const vip = (s: number) => `10.98.${s >> 8}.${s & 255}`;
const pod = (s: number) => `10.128.${s >> 8}.${s & 255}`;

kernelSuite('meshc inspect on a running agent with 20,000 Services', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test('every frontend listed with its backend, the dialled Service as the manifests say; 0 failed, 0 misrouted meanwhile', async () => {
    const lab = new Lab(PODS, [VIP]);
    try {
      await lab.startPods();
      const web = (ip: string) => serviceManifest('web', VIP, [{ ip }]);
      lab.write('web.yaml', web(PODS[0]!));
      lab.write('many.yaml', Array.from({ length: SERVICES }, (_, s) => serviceYaml(`many${s}`, [{ ip: pod(s) }], { clusterIP: vip(s) })).join('---\n'));
      const started = performance.now();
      const agent = await lab.startAgent();
      const syncMs = performance.now() - started;
      const changes: Change[] = [{ start: 0n, end: process.hrtime.bigint(), set: new Set([PODS[0]!]) }];
      const client = lab.client(['tcp', VIP, '80', '0']);
      await new Promise((r) => setTimeout(r, 300));

      // web moves to the other pod; inspect reads once the agent has switched it.
      const mark = lab.logMark(agent);
      const start = process.hrtime.bigint();
      lab.write('web.yaml', web(PODS[1]!));
      await lab.agentLogs(agent, /synced .* [1-9]\d* services switched/, mark, SYNC_MS);
      changes.push({ start, end: process.hrtime.bigint(), set: new Set([PODS[1]!]) });

      const t0 = performance.now();
      const r = lab.meshc('inspect', '--json', '--pin', lab.pin);
      const inspectMs = performance.now() - t0;
      assert.is(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { services: { vip: string; port: number; protocol: string; name: string | null; backends: { ip: string; pod: string | null }[] }[] };
      assert.is(out.services.length, SERVICES + 2, 'every frontend (web has two ports)');
      const byFrontend = new Map(out.services.map((s) => [`${s.vip}:${s.port}/${s.protocol}`, s]));
      for (const s of [0, SERVICES >> 1, SERVICES - 1]) {
        const svc = byFrontend.get(`${vip(s)}:80/TCP`);
        assert.ok(svc, `many${s} listed`);
        assert.ok(svc!.name?.startsWith(`default/many${s}:`), `many${s} named: ${svc!.name}`);
        assert.equal(svc!.backends.map((b) => b.ip), [pod(s)]);
      }
      assert.ok(out.services.every((s) => s.backends.length === 1), 'each frontend has its backend');
      assert.equal(byFrontend.get(`${VIP}:80/TCP`)!.backends.map((b) => b.ip), [PODS[1]!], 'web as the manifests say now');

      const records = await endClients([client], changes, 50);
      console.log(`  ${SERVICES + 2} frontends: agent ready ${syncMs.toFixed(0)} ms after its start, inspect --json ${inspectMs.toFixed(0)} ms (wall); ${records.length} connections, 0 failed, 0 misrouted`);
      assert.ok(syncMs < SYNC_MS, `agent ready after ${syncMs.toFixed(0)} ms`);
      assert.ok(inspectMs < INSPECT_MS, `inspect took ${inspectMs.toFixed(0)} ms`);
    } finally {
      lab.dispose();
    }
  });
});
