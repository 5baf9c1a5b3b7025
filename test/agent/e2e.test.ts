// The node agent end to end: real connections from a cgroup and network namespace of the test's
// own, routed by the pinned programs that `meshc agent` attached and filled.
import * as assert from 'uvu/assert';
import { mkdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { Lab, serviceManifest, tally } from './live/lab.ts';

const PODS = ['10.244.1.1', '10.244.1.2', '10.244.1.3'];
const VIP = '10.96.1.1';
const EMPTY_VIP = '10.96.1.2';
const TERM_VIP = '10.96.1.3';
const STICKY_VIP = '10.96.1.4';
const SKIPPED_UID = '6f1c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b';
const SKIPPED_POD = `apiVersion: v1
kind: Pod
metadata:
  name: legacy-client
  namespace: default
  uid: ${SKIPPED_UID}
  annotations: { meshc.io/skip: "true" }
spec: { containers: [{ name: app, image: app }] }
status: { podIP: 10.244.1.99 }
`;

kernelSuite('meshc agent: connections end to end', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  let lab: Lab;

  test.before(async () => {
    lab = new Lab(PODS, [VIP, EMPTY_VIP, TERM_VIP, STICKY_VIP]);
    try {
      await lab.startPods();
      lab.write('web.yaml', serviceManifest('web', VIP, PODS.map((ip) => ({ ip }))));
      lab.write('empty.yaml', serviceManifest('empty', EMPTY_VIP, [{ ip: PODS[0]!, ready: false, serving: false }]));
      lab.write('term.yaml', serviceManifest('term', TERM_VIP, [{ ip: PODS[1]!, ready: false, serving: true, terminating: true }]));
      lab.write('sticky.yaml', serviceManifest('sticky', STICKY_VIP, PODS.map((ip) => ({ ip })), { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 1 } } }));
      mkdirSync(path.join(lab.cgroup, `kubepods-pod${SKIPPED_UID.replaceAll('-', '_')}.slice`, 'container-1'), { recursive: true });
      lab.write('skipped-pod.yaml', SKIPPED_POD);
      const r = lab.meshc('agent', '--manifests', lab.manifests, '--cgroup', lab.cgroup, '--pin', lab.pin, '--node', 'node-1');
      assert.is(r.status, 0, r.stderr);
    } catch (error) {
      lab.dispose();
      throw error;
    }
  });

  test.after(() => lab.dispose());

  test('TCP: the ClusterIP reaches every pod evenly (±3% of a third over 3000), getpeername shows the ClusterIP', async () => {
    const records = await lab.connections(VIP, 80, 3000);
    const counts = tally(records);
    assert.equal([...counts.keys()].sort(), PODS, JSON.stringify([...counts]));
    for (const pod of PODS) assert.ok(Math.abs(counts.get(pod)! / 3000 - 1 / 3) < 0.03, `${pod}: ${counts.get(pod)}`);
    assert.ok(records.every((r) => r.peer === `${VIP}:80`), 'the application sees the ClusterIP as its peer');
  });

  test('a pin directory attached to another cgroup is refused, not silently reused', () => {
    const other = `${lab.cgroup}-other`;
    mkdirSync(other);
    try {
      const r = lab.meshc('agent', '--manifests', lab.manifests, '--cgroup', other, '--pin', lab.pin);
      assert.is(r.status, 1, r.stderr);
      assert.match(r.stderr, /attaches mc_\w+ to another cgroup .* run meshc agent --detach/);
    } finally {
      rmdirSync(other);
    }
  });

  test('a process outside the cgroup is untouched', async () => {
    const records = await lab.connections(VIP, 80, 20, false);
    assert.equal([...tally(records)], [['untranslated', 20]]);
  });

  test('a pod annotated meshc.io/skip is left alone, in its pod cgroup and its containers\'', async () => {
    const container = path.join(lab.cgroup, `kubepods-pod${SKIPPED_UID.replaceAll('-', '_')}.slice`, 'container-1');
    const records = await lab.connectionsFrom(container, VIP, 80, 10);
    assert.equal([...tally(records)], [['untranslated', 10]]);
  });

  test('UDP over an unconnected socket: balanced, and replies come from the ClusterIP', async () => {
    const c = lab.client(['udp', VIP, '53', '600']);
    c.stdin!.end();
    const records = await c.done;
    const counts = tally(records);
    assert.equal([...counts.keys()].sort(), PODS, JSON.stringify([...counts]));
    for (const pod of PODS) assert.ok(Math.abs(counts.get(pod)! / 600 - 1 / 3) < 0.08, `${pod}: ${counts.get(pod)}`);
    assert.ok(records.every((r) => r.peer === `${VIP}:53`), `reply source: ${records[0]?.peer}`);
  });

  test('no usable endpoint: connect() fails with ECONNREFUSED; terminating-only endpoints are still used', async () => {
    assert.equal([...tally(await lab.connections(EMPTY_VIP, 80, 10))], [['error:ECONNREFUSED', 10]]);
    assert.equal([...tally(await lab.connections(TERM_VIP, 80, 10))], [[PODS[1]!, 10]]);
  });

  test('session affinity holds for its timeout, then expires', async () => {
    const backends: string[] = [];
    for (let window = 0; window < 8; window++) {
      const records = await lab.connections(STICKY_VIP, 80, 15);
      const seen = [...tally(records).keys()];
      assert.is(seen.length, 1, `one backend within the timeout, saw ${seen}`);
      backends.push(seen[0]!);
      await new Promise((r) => setTimeout(r, 1300));
    }
    // Each expiry picks afresh among 3 pods: 8 windows on one pod would have odds of 1 in 2187.
    assert.ok(new Set(backends).size > 1, `backends per window: ${backends}`);
  });
});
