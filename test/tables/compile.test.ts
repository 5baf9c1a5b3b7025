import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compileTables } from '../../src/tables/compile.ts';
import { TableIds } from '../../src/tables/ids.ts';
import { maglevRing } from '../../src/tables/maglev.ts';
import * as L from '../../src/tables/layouts.ts';
import { modelOf, randoms, serviceYaml } from '../helpers/policy-harness.ts';
import * as compileModule from '../../src/tables/compile.ts';

const test = suite('table compiler');

test('a dual-stack Service gets one pool per family', () => {
  const yaml = `
apiVersion: v1
kind: Service
metadata: { name: dual, namespace: default }
spec:
  ipFamilies: [IPv4, IPv6]
  clusterIPs: [10.96.5.5, "fd00:96::5"]
  clusterIP: 10.96.5.5
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: dual-v4, namespace: default, labels: { kubernetes.io/service-name: dual } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints: [{ addresses: [10.244.1.1] }, { addresses: [10.244.1.2] }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: dual-v6, namespace: default, labels: { kubernetes.io/service-name: dual } }
addressType: IPv6
ports: [{ name: http, port: 8080 }]
endpoints: [{ addresses: ["fd00:244::1"] }]
`;
  const tables = compileTables(modelOf(yaml));
  const byVip = new Map(tables.frontends.map((f) => [f.vip, f.pool.slots.map((b) => b.ip)]));
  assert.equal(byVip.get('10.96.5.5'), ['10.244.1.1', '10.244.1.2']);
  assert.equal(byVip.get('fd00:96::5'), ['fd00:244::1']);
});

test('headless and ExternalName Services have no frontend', () => {
  const yaml = [
    serviceYaml('plain', [{ ip: '10.0.0.1' }]),
    serviceYaml('headless', [{ ip: '10.0.0.2' }], { clusterIP: 'None' }),
    'apiVersion: v1\nkind: Service\nmetadata: { name: ext, namespace: default }\nspec: { type: ExternalName, externalName: example.com }\n',
  ].join('---\n');
  assert.equal(compileTables(modelOf(yaml)).frontends.map((f) => f.service.meta.name), ['plain']);
});

test('ids and table revisions are stable when nothing changes, fresh when a pool changes', () => {
  const ids = new TableIds();
  const a = compileTables(modelOf(serviceYaml('s', [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }])), { ids });
  const b = compileTables(modelOf(serviceYaml('s', [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }])), { ids });
  const c = compileTables(modelOf(serviceYaml('s', [{ ip: '10.0.0.1' }, { ip: '10.0.0.3' }])), { ids });
  assert.is(a.frontends[0]!.id, b.frontends[0]!.id);
  assert.is(a.frontends[0]!.pool.table, b.frontends[0]!.pool.table);
  assert.is(c.frontends[0]!.id, a.frontends[0]!.id);
  assert.is.not(c.frontends[0]!.pool.table, a.frontends[0]!.pool.table);
  const kept = [...a.backends.values()].find((x) => x.ip === '10.0.0.1')!;
  assert.is([...c.backends.values()].find((x) => x.ip === '10.0.0.1')!.id, kept.id);
});

test('an L7 route sets the L7 flag and the kernel default is its catch-all rule', () => {
  const yaml = `${serviceYaml('api', [{ ip: '10.0.0.1' }])}---
${serviceYaml('api-v1', [{ ip: '10.0.1.1' }])}---
${serviceYaml('api-v2', [{ ip: '10.0.2.1' }])}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: canary, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: api, port: 80 }]
  rules:
  - matches: [{ headers: [{ name: x-canary, value: "true" }] }]
    backendRefs: [{ name: api-v2, port: 80 }]
  - backendRefs: [{ name: api-v1, port: 80 }]
`;
  const tables = compileTables(modelOf(yaml));
  const api = tables.frontends.find((f) => f.service.meta.name === 'api')!;
  assert.ok(api.flags & L.SVC_F.l7);
  assert.is(api.defaultRule?.ruleIndex, 1);
  assert.equal(api.defaultRule!.groupSet.groups.map((g) => g.service), ['default/api-v1']);
  assert.is(api.rules.size, 2);
  const plain = tables.frontends.find((f) => f.service.meta.name === 'api-v1')!;
  assert.is(plain.flags & L.SVC_F.l7, 0);
});

test('Maglev ring: every position owned, shares within 1% of M/N, independent of input order', () => {
  const names = ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80'];
  const ring = maglevRing(names, L.MAGLEV_RING);
  const counts = [0, 0, 0, 0];
  for (const owner of ring) counts[owner]!++;
  for (const c of counts) assert.ok(Math.abs(c - L.MAGLEV_RING / 4) <= 0.01 * L.MAGLEV_RING, `share ${c}`);
  const reversed = maglevRing([...names].reverse(), L.MAGLEV_RING);
  for (let i = 0; i < ring.length; i++) assert.is(names[ring[i]!], [...names].reverse()[reversed[i]!]);
});

test.run();

const cached = suite('table compiler with a cache');

cached('reusing unchanged pools gives byte-identical rows to a full compile, change after change', () => {
  const { CompileCache } = compileModule;
  const rng = randoms(77);
  const next = () => rng.next().value as number;
  const endpointsOf = (s: number, n: number) => Array.from({ length: n }, (_, i) => ({ ip: `10.${s}.1.${i + 1}`, ready: next() % 5 !== 0, serving: true, terminating: false }));
  const yaml = Array.from({ length: 12 }, (_, s) => serviceYaml(`svc${s}`, endpointsOf(s, 1 + (s % 4)), {}, { 'meshc.io/lb-algorithm': s % 3 === 0 ? 'maglev' : 'random' })).join('---\n');
  const model = modelOf(yaml);
  const plainIds = new TableIds();
  const cachedIds = new TableIds();
  const cache = new CompileCache();
  let reused = 0;
  for (let round = 0; round < 60; round++) {
    if (round > 0) {
      // Change one Service's endpoints the way an incremental source does: a new list for it,
      // the very same objects for every other Service.
      const s = next() % 12;
      const svc = model.services.get(`default/svc${s}`)!;
      const key = `default/svc${s}/http`;
      const list = model.endpoints.get(key)!;
      const changed = list.length > 1 && next() % 2 === 0 ? list.slice(1) : [...list, { ...list[0]!, ip: `10.${s}.2.${round}` }];
      model.endpoints = new Map(model.endpoints).set(key, changed);
      void svc;
    }
    const plain = compileTables(model, { ids: plainIds });
    const withCache = compileTables(model, { ids: cachedIds, cache });
    for (const name of L.TABLE_WRITE_ORDER) {
      const a = [...plain.rows.get(name)!].map(([k, r]) => `${k}=${Buffer.from(r.value).toString('hex')}`).sort();
      const b = [...withCache.rows.get(name)!].map(([k, r]) => `${k}=${Buffer.from(r.value).toString('hex')}`).sort();
      assert.equal(b, a, `${name} after round ${round}`);
    }
    if (round > 0) {
      assert.ok(withCache.reuse.built <= 1, `round ${round}: ${withCache.reuse.built} pools built anew`);
      reused += withCache.reuse.pools;
    }
  }
  assert.ok(reused >= 59 * 11, `${reused} pools reused`);
});

cached.run();
