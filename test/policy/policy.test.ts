import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addressOf, chiSquare, harness, randoms, serviceYaml, tally } from '../helpers/policy-harness.ts';
import type { Row } from '../../src/tables/codec.ts';

const THREE = [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }];
const N = 30000;
// Chi-square critical value for 2 degrees of freedom at p = 0.001.
const CHI2_DF2 = 13.82;

function run(h: Awaited<ReturnType<typeof harness>>, name: string, n: number, seed: number, client?: (i: number, r: number) => bigint): Row[] {
  const f = h.frontend(name);
  const rng = randoms(seed);
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const r = rng.next().value as number;
    rows.push(h.decide(f, client ? client(i, r) : BigInt(i), r, BigInt(i) * 1000n));
  }
  return rows;
}

const random = suite('random');
random('spreads uniformly over ready endpoints (chi-square, fixed seed)', async () => {
  const h = await harness(serviceYaml('web', THREE));
  const counts = tally(run(h, 'web', N, 7));
  assert.equal(counts.size, 3);
  const observed = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip) => counts.get(ip) ?? 0);
  assert.ok(chiSquare(observed, [N / 3, N / 3, N / 3]) < CHI2_DF2, `observed ${observed}`);
});
random('is the default algorithm and translates to the target port', async () => {
  const h = await harness(serviceYaml('web', THREE));
  assert.is(h.frontend('web').algorithm, 0);
  const row = h.decide(h.frontend('web'), 1n, 12345);
  assert.is(row.verdict, 1);
  assert.is(row.port, ((8080 & 0xff) << 8) | (8080 >> 8));
});
random.run();

const rr = suite('round-robin');
rr('cycles through the endpoints in slot order', async () => {
  const h = await harness(serviceYaml('web', THREE, {}, { 'meshc.io/lb-algorithm': 'round-robin' }));
  const seen = run(h, 'web', 9, 3).map((r) => Number(r.slot));
  assert.equal(seen, [0, 1, 2, 0, 1, 2, 0, 1, 2]);
});
rr.run();

const maglev = suite('maglev');
const FIVE = [1, 2, 3, 4, 5].map((i) => ({ ip: `10.0.1.${i}` }));
maglev('sends one client to one backend every time', async () => {
  const h = await harness(serviceYaml('kv', FIVE, {}, { 'meshc.io/lb-algorithm': 'maglev' }));
  const rows = run(h, 'kv', 200, 5, () => 0xfeedn);
  assert.is(tally(rows).size, 1);
});
maglev('balances clients: every backend within 10% of its fair share', async () => {
  const h = await harness(serviceYaml('kv', FIVE, {}, { 'meshc.io/lb-algorithm': 'maglev' }));
  const counts = tally(run(h, 'kv', N, 5, (i) => BigInt(i) * 0x9e3779b97f4a7c15n));
  assert.is(counts.size, 5);
  for (const [ip, count] of counts) assert.ok(Math.abs(count - N / 5) < 0.1 * (N / 5), `${ip}: ${count}`);
});
maglev('removing one backend of N moves about 1/N of the clients', async () => {
  const yaml = (eps: typeof FIVE) => serviceYaml('kv', eps, {}, { 'meshc.io/lb-algorithm': 'maglev' });
  const h = await harness(yaml(FIVE));
  const clients = (i: number) => BigInt(i) * 0x9e3779b97f4a7c15n + 17n;
  const before = run(h, 'kv', 10000, 9, clients).map(addressOf);
  h.reload(yaml(FIVE.slice(0, 4)));
  const after = run(h, 'kv', 10000, 9, clients).map(addressOf);
  let moved = 0;
  let movedFromRemoved = 0;
  let onRemoved = 0;
  const lost = new Set(before.filter((a) => !after.includes(a)));
  before.forEach((a, i) => {
    if (lost.has(a)) onRemoved++;
    if (a !== after[i]) {
      moved++;
      if (lost.has(a)) movedFromRemoved++;
    }
  });
  assert.is(lost.size, 1, 'exactly one backend disappears');
  assert.is(movedFromRemoved, onRemoved, 'every client of the removed backend moves');
  const fraction = moved / before.length;
  assert.ok(fraction > 0.15 && fraction < 0.3, `moved fraction ${fraction} (1/N = 0.2)`);
});
maglev.run();

const weighted = suite('weighted');
const WEIGHTS = `
${serviceYaml('shop', [{ ip: '10.0.2.1' }])}
---
${serviceYaml('shop-v1', [{ ip: '10.0.3.1' }, { ip: '10.0.3.2' }])}
---
${serviceYaml('shop-v2', [{ ip: '10.0.4.1' }])}
---
${serviceYaml('shop-v3', [{ ip: '10.0.5.1' }])}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: shop, port: 80 }]
  rules:
  - backendRefs:
    - { name: shop-v1, port: 80, weight: 70 }
    - { name: shop-v2, port: 80, weight: 30 }
    - { name: shop-v3, port: 80, weight: 0 }
`;
weighted('splits by backendRef weight (70/30, ±2%), and weight 0 gets nothing', async () => {
  const h = await harness(WEIGHTS);
  const counts = tally(run(h, 'shop', N, 11));
  const v1 = (counts.get('10.0.3.1') ?? 0) + (counts.get('10.0.3.2') ?? 0);
  const v2 = counts.get('10.0.4.1') ?? 0;
  assert.ok(Math.abs(v1 / N - 0.7) < 0.02, `v1 share ${v1 / N}`);
  assert.ok(Math.abs(v2 / N - 0.3) < 0.02, `v2 share ${v2 / N}`);
  assert.is(counts.get('10.0.5.1'), undefined);
  assert.is(counts.get('10.0.2.1'), undefined, 'the parent Service own endpoint is not used once a route is attached');
  assert.ok(Math.abs((counts.get('10.0.3.1') ?? 0) - (counts.get('10.0.3.2') ?? 0)) < 0.05 * v1, 'even inside the group');
});
weighted('a backendRef to a missing Service keeps its share, refused', async () => {
  const h = await harness(WEIGHTS.replace('name: shop-v2, port: 80', 'name: shop-gone, port: 80'), { allowErrors: true });
  assert.ok(h.model.diagnostics.some((d) => d.field === 'spec.rules[0].backendRefs[1].name'), 'the missing Service is reported');
  const counts = tally(run(h, 'shop', N, 11));
  const refused = counts.get('refused:invalid-backend') ?? 0;
  assert.ok(Math.abs(refused / N - 0.3) < 0.02, `refused share ${refused / N}`);
});
weighted.run();

const leastConn = suite('least-conn');
leastConn('power of two choices avoids the busiest backend', async () => {
  const h = await harness(serviceYaml('db', THREE, {}, { 'meshc.io/lb-algorithm': 'least-conn' }));
  const busy = h.tables.backends.values().next().value!;
  h.setConnections(busy.id, 100);
  const counts = tally(run(h, 'db', N, 13));
  const share = (counts.get(busy.ip) ?? 0) / N;
  // The busy backend wins only when both choices land on it: (1/3)^2.
  assert.ok(Math.abs(share - 1 / 9) < 0.015, `busy share ${share}`);
});
leastConn('with equal counts it is uniform', async () => {
  const h = await harness(serviceYaml('db', THREE, {}, { 'meshc.io/lb-algorithm': 'least-conn' }));
  const counts = tally(run(h, 'db', N, 13));
  const observed = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip) => counts.get(ip) ?? 0);
  assert.ok(chiSquare(observed, [N / 3, N / 3, N / 3]) < CHI2_DF2, `observed ${observed}`);
});
leastConn.run();

const affinity = suite('sessionAffinity ClientIP');
const STICKY = serviceYaml('cart', THREE, { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 30 } } });
affinity('a client keeps its backend while it keeps coming back within the timeout', async () => {
  const h = await harness(STICKY);
  const f = h.frontend('cart');
  const rng = randoms(21);
  const first = h.decide(f, 42n, rng.next().value as number, 0n);
  for (let s = 1; s <= 100; s++) {
    const row = h.decide(f, 42n, rng.next().value as number, BigInt(s) * 20_000_000_000n);
    assert.is(addressOf(row), addressOf(first), `after ${s * 20}s`);
  }
});
affinity('after the timeout the choice is made afresh', async () => {
  const h = await harness(STICKY);
  const f = h.frontend('cart');
  const rng = randoms(23);
  let changed = 0;
  const clients = 3000;
  for (let c = 0; c < clients; c++) {
    const a = h.decide(f, BigInt(c), rng.next().value as number, 0n);
    const b = h.decide(f, BigInt(c), rng.next().value as number, 31_000_000_000n);
    if (addressOf(a) !== addressOf(b)) changed++;
  }
  // A fresh uniform pick among 3 differs from the old one 2/3 of the time.
  assert.ok(Math.abs(changed / clients - 2 / 3) < 0.04, `changed ${changed / clients}`);
});
affinity('a remembered backend that left the service is not used', async () => {
  const h = await harness(STICKY);
  const f = h.frontend('cart');
  const first = h.decide(f, 7n, 1, 0n);
  const gone = THREE.filter((e) => e.ip !== addressOf(first));
  h.reload(serviceYaml('cart', gone, { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 30 } } }));
  const row = h.decide(h.frontend('cart'), 7n, 1, 1_000_000_000n);
  assert.is(row.verdict, 1);
  assert.is.not(addressOf(row), addressOf(first));
});
affinity.run();

const fallback = suite('serving-terminating fallback and refusal');
fallback('uses serving-terminating endpoints only when none is ready', async () => {
  const eps = [
    { ip: '10.0.6.1', ready: false, serving: true, terminating: true },
    { ip: '10.0.6.2', ready: false, serving: true, terminating: true },
    { ip: '10.0.6.3', ready: false, serving: false, terminating: true },
  ];
  const h = await harness(serviceYaml('orders', eps));
  const counts = tally(run(h, 'orders', 3000, 31));
  assert.equal([...counts.keys()].sort(), ['10.0.6.1', '10.0.6.2']);
  h.reload(serviceYaml('orders', [...eps, { ip: '10.0.6.9' }]));
  const after = tally(run(h, 'orders', 3000, 31));
  assert.equal([...after.keys()], ['10.0.6.9']);
});
fallback('refuses when no endpoint is usable', async () => {
  const h = await harness(serviceYaml('void', [{ ip: '10.0.7.1', ready: false, serving: false }]));
  const counts = tally(run(h, 'void', 100, 3));
  assert.equal([...counts.entries()], [['refused:no-endpoints', 100]]);
});
fallback('passes destinations that are not services', async () => {
  const h = await harness(serviceYaml('web', THREE));
  const f = { ...h.frontend('web'), keyBytes: new Uint8Array(20) };
  assert.is(h.decide(f, 1n, 1).verdict, 0);
});
fallback.run();

const topology = suite('internalTrafficPolicy Local and zone preference');
const SPREAD = [
  { ip: '10.0.8.1', node: 'n1', zone: 'a' },
  { ip: '10.0.8.2', node: 'n2', zone: 'a' },
  { ip: '10.0.8.3', node: 'n3', zone: 'b' },
];
topology('Local uses only this node\'s endpoints', async () => {
  const h = await harness(serviceYaml('cache', SPREAD, { internalTrafficPolicy: 'Local' }), { node: 'n2' });
  assert.equal([...tally(run(h, 'cache', 500, 3)).keys()], ['10.0.8.2']);
});
topology('Local refuses on a node without endpoints', async () => {
  const h = await harness(serviceYaml('cache', SPREAD, { internalTrafficPolicy: 'Local' }), { node: 'n9' });
  assert.equal([...tally(run(h, 'cache', 50, 3)).keys()], ['refused:no-local-endpoints']);
});
topology('PreferClose keeps traffic in the zone while it has endpoints', async () => {
  const yaml = `${serviceYaml('cat', SPREAD, { trafficDistribution: 'PreferClose' })}---
apiVersion: v1
kind: Node
metadata: { name: n9, labels: { topology.kubernetes.io/zone: b } }
`;
  const h = await harness(yaml, { node: 'n1' });
  assert.equal([...tally(run(h, 'cat', 3000, 3)).keys()].sort(), ['10.0.8.1', '10.0.8.2']);
  const other = await harness(yaml, { node: 'n9' });
  assert.equal([...tally(run(other, 'cat', 300, 3)).keys()], ['10.0.8.3']);
});
topology.run();
