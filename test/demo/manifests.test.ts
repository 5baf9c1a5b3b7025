// The demo's manifests: fixtures/demo is their starting state, they build without errors, and the
// shares the demo expects are what the policy (simulator) gives for every state it goes through.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { CLUSTER_IPS, INITIAL_STATE, demoManifests, runningPods, type DemoState } from '../../src/demo/manifests.ts';
import { expectedShares } from '../../src/demo/run.ts';

const FIXTURE = fileURLToPath(new URL('../../fixtures/demo/', import.meta.url));

function modelOf(state: DemoState) {
  const docs = [...demoManifests(state)].flatMap(([file, text]) => parseManifests(text, file));
  return buildModel(docs, { synthesize: false });
}

const manifests = suite('demo manifests');

manifests('fixtures/demo is the starting state, byte for byte', () => {
  const files = demoManifests(INITIAL_STATE);
  assert.equal(readdirSync(FIXTURE).sort(), [...files.keys()].sort());
  for (const [file, text] of files) assert.is(readFileSync(`${FIXTURE}${file}`, 'utf8'), text, file);
});

manifests('every state builds without diagnostics, with the fixed ClusterIPs and real pod IPs', () => {
  for (const replicas of [{ v1: 3, v2: 1 }, { v1: 3, v2: 2 }, { v1: 1, v2: 2 }, { v1: 0, v2: 1 }]) {
    const model = modelOf({ weights: { v1: 90, v2: 10 }, replicas });
    assert.equal(model.diagnostics, [], JSON.stringify(replicas));
    for (const [name, ip] of Object.entries(CLUSTER_IPS)) assert.equal(model.services.get(`default/${name}`)?.clusterIPs, [ip]);
    const endpoints = [...model.endpoints.values()].flat();
    assert.equal(new Set(endpoints.map((e) => e.pod?.name)), new Set(runningPods({ weights: { v1: 1, v2: 1 }, replicas }).map((p) => p.name)));
  }
});

manifests('bad states are refused by field', () => {
  assert.throws(() => demoManifests({ weights: { v1: 90, v2: 10 }, replicas: { v1: 4, v2: 1 } }), /replicas\.v1 must be an integer from 0 to 3, got 4/);
  assert.throws(() => demoManifests({ weights: { v1: -1, v2: 10 }, replicas: { v1: 1, v2: 1 } }), /weights\.v1 must be an integer/);
});

const shares = suite('demo expected shares');

shares('a version\'s weight share, split evenly over its running pods', () => {
  const expected = expectedShares({ weights: { v1: 50, v2: 50 }, replicas: { v1: 3, v2: 2 } });
  assert.is(expected.size, 5);
  assert.ok(Math.abs([...expected.values()].reduce((a, b) => a + b, 0) - 1) < 1e-12);
  for (const [pod, share] of expected) assert.ok(Math.abs(share - (pod.includes('-v1-') ? 1 / 6 : 1 / 4)) < 1e-12, pod);
});

shares('the simulator agrees with the expected shares for every state the demo goes through (±2% of 20,000)', async () => {
  const instance = await loadPolicyWasm();
  const states: DemoState[] = [
    INITIAL_STATE,
    { weights: { v1: 50, v2: 50 }, replicas: { v1: 3, v2: 1 } },
    { weights: { v1: 50, v2: 50 }, replicas: { v1: 3, v2: 2 } },
    { weights: { v1: 50, v2: 50 }, replicas: { v1: 1, v2: 2 } },
  ];
  for (const state of states) {
    const result = simulate(modelOf(state), instance, { to: { name: 'product-api', port: 80 }, connections: 20_000, seed: 7 });
    assert.is(result.refused, 0);
    const expected = expectedShares(state);
    assert.equal(new Set(result.backends.filter((b) => b.count > 0).map((b) => b.pod!.slice('default/'.length))), new Set(expected.keys()));
    for (const b of result.backends) {
      const share = b.count / 20_000;
      assert.ok(Math.abs(share - expected.get(b.pod!.slice('default/'.length))!) < 0.02, `${JSON.stringify(state)} ${b.pod}: ${share}`);
    }
  }
});

manifests.run();
shares.run();
