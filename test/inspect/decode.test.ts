// meshc inspect's decoding, without the kernel: rows straight from compileTables, decoded and
// compared with what the table compiler says it wrote (frontends, pools, groups, names).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { namesOf } from '../../src/glue/names.ts';
import { decodeServices, type InspectInput } from '../../src/inspect/decode.ts';
import { formatInspect } from '../../src/inspect/format.ts';
import { buildModel } from '../../src/model/build.ts';
import { loadManifests } from '../../src/model/load-files.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { compileTables, type CompiledTables, type FrontendInfo, type TableRow } from '../../src/tables/compile.ts';
import * as L from '../../src/tables/layouts.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

function inputOf(tables: CompiledTables, conns = new Map<number, number>()): InspectInput {
  const rows = new Map<L.MapName, TableRow[]>();
  for (const [name, map] of tables.rows) rows.set(name, [...map.values()]);
  return { rows, names: namesOf(tables), conns };
}

const frontendName = (f: FrontendInfo) => `${f.service.meta.namespace}/${f.service.meta.name}:${f.port.port}/${f.protocol}`;

function expectedFlags(f: FrontendInfo): string[] {
  const flags: string[] = [];
  if (f.service.sessionAffinity === 'ClientIP') flags.push('affinity');
  if (f.service.internalTrafficPolicy === 'Local') flags.push('local');
  if (f.service.preferSameZone) flags.push('prefer-zone');
  if ((f.flags & L.SVC_F.l7) !== 0) flags.push('l7');
  return flags;
}

const fixtures = suite('inspect: decoding every fixture compiles back to what the compiler wrote');

for (const dir of ['product-api', 'demo', 'affinity', 'terminating', 'weights', 'local-zones', 'multi-port', 'named-ports']) {
  fixtures(dir, async () => {
    const model = await loadManifests([`${FIXTURES}${dir}`]);
    const nodes = [...model.nodes.keys()];
    const tables = compileTables(model, { node: nodes[0] });
    // Live connections: a distinct number per backend, so a mix-up shows.
    const conns = new Map([...tables.backends.keys()].map((id) => [id, id * 7 + 1]));
    const result = decodeServices(inputOf(tables, conns));
    assert.equal(result.problems, []);
    assert.is(result.services.length, tables.frontends.length);
    for (const f of tables.frontends) {
      const s = result.services.find((x) => x.vip === f.vip && x.port === f.port.port && x.protocol === f.protocol);
      assert.ok(s, `${frontendName(f)} at ${f.vip} is decoded`);
      assert.is(s!.name, frontendName(f));
      assert.is(s!.id, f.id);
      assert.is(s!.family, f.family);
      assert.is(s!.algorithm, f.service.algorithm);
      assert.equal(s!.flags, expectedFlags(f), `${frontendName(f)} flags`);
      if (f.service.sessionAffinity === 'ClientIP') assert.is(s!.affinityTimeout, f.service.affinityTimeoutSeconds);
      assert.equal(
        s!.backends.map((b) => ({ ip: b.ip, port: b.port, state: b.state, pod: b.pod, conns: b.conns, slot: b.slot })),
        f.pool.slots.map((b, slot) => ({
          ip: b.ip, port: b.port, state: slot < f.pool.counts.ready ? 'ready' : 'terminating',
          pod: b.pod ? `${b.pod.namespace}/${b.pod.name}` : `${b.ip}:${b.port}`, conns: b.id * 7 + 1, slot,
        })),
        `${frontendName(f)} backends`,
      );
      const producer = f.routes.some((r) => r.meta.namespace === f.service.meta.namespace);
      const expectedGroups = producer ? (f.defaultRule?.groupSet.groups ?? [{ weight: 1, invalid: 'refusing', service: '' }]) : [];
      assert.equal(
        s!.groups.map((g) => ({ weight: g.weight, invalid: g.invalid, backends: g.backends.map((b) => `${b.ip}:${b.port}`) })),
        expectedGroups.map((g) => ({
          weight: g.weight, invalid: Boolean(g.invalid),
          backends: (g.pool?.slots ?? []).map((b) => `${b.ip}:${b.port}`),
        })),
        `${frontendName(f)} groups`,
      );
      const total = expectedGroups.reduce((sum, g) => sum + g.weight, 0);
      s!.groups.forEach((g, i) => assert.ok(Math.abs(g.percent - (100 * expectedGroups[i]!.weight) / total) < 1e-9));
    }
  });
}

const seed = suite('inspect: the seed scenario');

seed('product-api: the plain rule sends everything to product-api-v1 (the header rule is L7)', async () => {
  const tables = compileTables(await loadManifests([`${FIXTURES}product-api`]));
  const { services } = decodeServices(inputOf(tables));
  assert.equal(services.map((s) => s.name), ['default/product-api:80/TCP', 'default/product-api-v1:80/TCP', 'default/product-api-v2:80/TCP']);
  const main = services[0]!;
  assert.equal(main.flags, ['l7']);
  assert.is(main.groups.length, 1);
  assert.equal(main.groups[0]!.targets, ['default/product-api-v1:80/TCP']);
  assert.is(main.groups[0]!.percent, 100);
  assert.is(main.groups[0]!.backends.length, 3);
  for (const b of main.groups[0]!.backends) assert.match(b.pod!, /^default\/product-api-v1-/);
});

seed('demo fixture: 90/10 weight split over v1 (3 pods) and v2 (1 pod), targets named', async () => {
  const tables = compileTables(await loadManifests([`${FIXTURES}demo`]));
  const main = decodeServices(inputOf(tables)).services.find((s) => s.name === 'default/product-api:80/TCP')!;
  assert.is(main.vip, '10.96.100.10');
  assert.equal(main.flags, []);
  assert.equal(main.groups.map((g) => [g.weight, g.percent, g.targets]), [
    [90, 90, ['default/product-api-v1:80/TCP']],
    [10, 10, ['default/product-api-v2:80/TCP']],
  ]);
  assert.equal(main.groups[1]!.backends.map((b) => [b.ip, b.port, b.pod]), [['10.244.2.21', 8080, 'default/product-api-v2-84b6d9f4c-tr5vn']]);
  assert.is(main.backends.length, 4, 'the Service selects every pod of both versions');
});

const edges = suite('inspect: edge cases');

const TWO_STACK = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  clusterIP: "fd00:10:96::10"
  ipFamilies: [IPv6]
  sessionAffinity: ClientIP
  sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }
  ports: [{ name: http, port: 443, targetPort: 8443 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv6
ports: [{ name: http, port: 8443, protocol: TCP }]
endpoints:
- { addresses: ["fd00:10:244::5"], conditions: { ready: true } }
- { addresses: ["fd00:10:244::6"], conditions: { ready: false, serving: true, terminating: true } }
---
apiVersion: v1
kind: Service
metadata: { name: empty, namespace: shop }
spec: { clusterIP: 10.96.0.50, ports: [{ port: 53, protocol: UDP, targetPort: 5353 }] }
`;

function tablesOf(yaml: string): CompiledTables {
  const model = buildModel(parseManifests(yaml, 'edge.yaml'), { synthesize: false });
  assert.equal(model.diagnostics.filter((d) => d.severity === 'error'), []);
  return compileTables(model);
}

edges('IPv6 frontend, affinity with its timeout, a terminating slot, a UDP service without endpoints', () => {
  const { services, problems } = decodeServices(inputOf(tablesOf(TWO_STACK)));
  assert.equal(problems, []);
  const [empty, web] = services;
  assert.equal([empty!.name, empty!.vip, empty!.port, empty!.protocol, empty!.backends], ['shop/empty:53/UDP', '10.96.0.50', 53, 'UDP', []]);
  assert.equal([web!.vip, web!.family, web!.port, web!.flags, web!.affinityTimeout], ['fd00:10:96::10', 6, 443, ['affinity'], 600]);
  assert.equal(web!.backends.map((b) => [b.ip, b.port, b.state, b.slot]), [['fd00:10:244::5', 8443, 'ready', 0], ['fd00:10:244::6', 8443, 'terminating', 1]]);
  const text = formatInspect({ services, problems });
  assert.match(text, '[fd00:10:96::10]:443/TCP');
  assert.match(text, /\[fd00:10:244::6\]:8443\s+terminating\s+slot 1/);
  assert.match(text, /shop\/empty:53\/UDP[\s\S]*no backends: connect\(\) is refused/);
});

edges('without mc_names the frontends and backends are still decoded, nameless', () => {
  const tables = tablesOf(TWO_STACK);
  const input = { ...inputOf(tables), names: new Map<string, string>() };
  const { services } = decodeServices(input);
  assert.equal(services.map((s) => s.name), [null, null]);
  assert.ok(services.every((s) => s.backends.every((b) => b.pod === null)));
  assert.match(formatInspect({ services, problems: [] }), '(no name)');
});

edges('a slot row that points nowhere, or is missing, is reported as a problem naming the service', async () => {
  const tables = compileTables(await loadManifests([`${FIXTURES}demo`]));
  const input = inputOf(tables);
  const slots = input.rows.get('mc_slots') as TableRow[];
  const v2 = tables.frontends.find((f) => f.service.meta.name === 'product-api-v2')!;
  const index = slots.findIndex((r) => new DataView(r.key.buffer).getUint32(0, true) === v2.pool.table);
  slots.splice(index, 1);
  const backends = input.rows.get('mc_backends') as TableRow[];
  const v1 = tables.frontends.find((f) => f.service.meta.name === 'product-api-v1')!;
  const gone = v1.pool.slots[1]!.id;
  backends.splice(backends.findIndex((r) => new DataView(r.key.buffer).getUint32(0, true) === gone), 1);
  const { problems, services } = decodeServices(input);
  assert.ok(problems.some((p) => p.startsWith('default/product-api-v2:80/TCP: ') && p.includes('slot 0: no mc_slots row')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('default/product-api-v1:80/TCP: ') && p.includes(`backend ${gone} has no mc_backends row`)), problems.join('\n'));
  assert.is(services.find((s) => s.name === 'default/product-api-v1:80/TCP')!.backends.length, 2);
});

edges('metrics are labelled by mc_metrics index, refusal reasons by name', () => {
  const metrics = Array.from({ length: 16 }, (_, i) => BigInt(i * 10));
  const { metrics: labelled } = decodeServices({ ...inputOf(tablesOf(TWO_STACK)), metrics });
  assert.is(labelled!['refused no-endpoints'], '10');
  assert.is(labelled!['refused family-mismatch'], '50');
  assert.is(labelled!['translated'], '80');
  assert.is(labelled!['events lost'], '120');
  assert.equal([0, 1, 2, 3, 4, 5, 9].map(L.reasonName), ['none', 'no-endpoints', 'no-local-endpoints', 'invalid-backend', 'table-miss', 'family-mismatch', 'reason-9']);
});

fixtures.run();
seed.run();
edges.run();
