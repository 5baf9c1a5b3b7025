import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadManifests, readManifestDocs } from '../../src/model/load-files.ts';
import { buildModel } from '../../src/model/build.ts';
import type { Endpoint, Model } from '../../src/model/types.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const dir = (name: string) => `${fixtures}${name}`;
const brief = (e: Endpoint) => `${e.ip}:${e.port}`;
const errorsOf = (model: Model) => model.diagnostics.filter((d) => d.severity === 'error');

const productApi = suite('fixtures/product-api: the seed article\'s canary scenario');

productApi('one file per object, named as in the article, loading without diagnostics', async () => {
  assert.equal(readdirSync(dir('product-api')).filter((f) => f.endsWith('.yaml')).sort(), [
    'product-api-httproute.yaml',
    'product-api-svc.yaml',
    'product-api-v1-deployment.yaml',
    'product-api-v1-svc.yaml',
    'product-api-v2-deployment.yaml',
    'product-api-v2-svc.yaml',
  ]);
  const docs = await readManifestDocs([dir('product-api')]);
  assert.is(docs.length, 6);
  const model = await loadManifests([dir('product-api')]);
  assert.equal(model.diagnostics, []);
});

productApi('3 v1 pods and 1 v2 pod, all behind product-api on 8080; each version Service has its own', async () => {
  const model = await loadManifests([dir('product-api')]);
  const owners = [...model.pods.values()].map((p) => p.owner).sort();
  assert.equal(owners, ['Deployment/product-api-v1', 'Deployment/product-api-v1', 'Deployment/product-api-v1', 'Deployment/product-api-v2']);
  const all = model.endpoints.get('default/product-api/80')!;
  assert.is(all.length, 4);
  assert.ok(all.every((e) => e.port === 8080 && e.ready));
  const v1 = model.endpoints.get('default/product-api-v1/80')!;
  const v2 = model.endpoints.get('default/product-api-v2/80')!;
  assert.equal([v1.length, v2.length], [3, 1]);
  assert.equal([...v1, ...v2].map(brief).sort(), all.map(brief).sort());
  assert.ok(v1.every((e) => e.pod!.name.startsWith('product-api-v1-')));
  const svc = model.services.get('default/product-api')!;
  assert.equal([svc.type, svc.ports], ['ClusterIP', [{ name: '', port: 80, protocol: 'TCP', targetPort: 8080 }]]);
});

productApi('the v1beta1 route: attached to Service product-api:80; X-Canary-User: true → v2, the rest → v1', async () => {
  const model = await loadManifests([dir('product-api')]);
  assert.is(model.routes.length, 1);
  const route = model.routes[0]!;
  assert.equal([route.apiVersion, route.meta.namespace, route.meta.name], ['gateway.networking.k8s.io/v1beta1', 'default', 'product-api-routing']);
  assert.equal(route.parentRefs, [{ group: '', kind: 'Service', namespace: 'default', name: 'product-api', port: 80 }]);
  assert.equal(route.rules.map((r) => r.matches), [
    [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ type: 'Exact', name: 'X-Canary-User', value: 'true' }], queryParams: [] }],
    [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }],
  ]);
  assert.equal(route.rules.map((r) => r.backendRefs), [
    [{ group: '', kind: 'Service', namespace: 'default', name: 'product-api-v2', port: 80, weight: 100 }],
    [{ group: '', kind: 'Service', namespace: 'default', name: 'product-api-v1', port: 80, weight: 100 }],
  ]);
});

productApi('same IPs and pod names in any document order and on every run', async () => {
  const docs = await readManifestDocs([dir('product-api')]);
  const snapshot = (model: Model) => ({
    services: [...model.services].map(([key, s]) => `${key}=${s.clusterIPs.join(',')}`).sort(),
    pods: [...model.pods.values()].map((p) => `${p.meta.name}=${p.ip}`).sort(),
  });
  const forward = snapshot(buildModel(docs));
  assert.equal(snapshot(buildModel([...docs].reverse())), forward);
  assert.equal(snapshot(buildModel([docs[3]!, docs[0]!, docs[5]!, docs[1]!, docs[4]!, docs[2]!])), forward);
  assert.equal(snapshot(await loadManifests([dir('product-api')])), forward);
});

const scenarios = suite('fixtures: the other scenarios');

scenarios('weights: a weight-only route 70/30 over two version Services', async () => {
  const model = await loadManifests([dir('weights')]);
  assert.equal(errorsOf(model), []);
  const [rule] = model.routes[0]!.rules;
  assert.equal(rule!.backendRefs.map((b) => [b.name, b.weight]), [['checkout-v1', 70], ['checkout-v2', 30]]);
  assert.equal(rule!.matches, [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }]);
  assert.equal([model.endpoints.get('default/checkout-v1/80')!.length, model.endpoints.get('default/checkout-v2/80')!.length], [2, 2]);
});

scenarios('affinity: ClientIP with a 30 s timeout', async () => {
  const model = await loadManifests([dir('affinity')]);
  const svc = model.services.get('default/cart')!;
  assert.equal([svc.sessionAffinity, svc.affinityTimeoutSeconds], ['ClientIP', 30]);
  assert.is(model.endpoints.get('default/cart/80')!.length, 3);
});

scenarios('named-ports: "http" is 8080 on web-a and 9090 on web-b, web-c has none; metrics on web-a and web-c', async () => {
  const model = await loadManifests([dir('named-ports')]);
  assert.equal(model.diagnostics, []);
  assert.equal(model.endpoints.get('default/web/http')!.map((e) => [e.pod!.name, e.port]), [['web-a', 8080], ['web-b', 9090]]);
  assert.equal(model.endpoints.get('default/web/metrics')!.map((e) => [e.pod!.name, e.port]), [['web-a', 9100], ['web-c', 9200]]);
});

scenarios('terminating: no endpoint ready, two serving and terminating, one neither', async () => {
  const model = await loadManifests([dir('terminating')]);
  const endpoints = model.endpoints.get('default/orders/http')!;
  assert.equal(endpoints.map((e) => [e.ip, e.ready, e.serving, e.terminating]), [
    ['10.244.3.11', false, true, true],
    ['10.244.3.12', false, true, true],
    ['10.244.3.13', false, false, true],
  ]);
  assert.is(model.pods.size, 0);
});

scenarios('multi-port: 53/UDP, 53/TCP and 9153/TCP, each with its own target port', async () => {
  const model = await loadManifests([dir('multi-port')]);
  assert.equal(model.diagnostics, []);
  const svc = model.services.get('kube-system/dns')!;
  assert.equal(svc.clusterIPs, ['10.96.0.10']);
  assert.equal(svc.ports.map((p) => `${p.name}:${p.port}/${p.protocol}`), ['dns:53/UDP', 'dns-tcp:53/TCP', 'metrics:9153/TCP']);
  for (const [key, port] of [['dns', 5353], ['dns-tcp', 5353], ['metrics', 9153]] as const) {
    const endpoints = model.endpoints.get(`kube-system/dns/${key}`)!;
    assert.is(endpoints.length, 2, key);
    assert.ok(endpoints.every((e) => e.port === port), key);
  }
});

scenarios('local-zones: nodes with zones, Local traffic policy, PreferClose with hints', async () => {
  const model = await loadManifests([dir('local-zones')]);
  assert.equal(model.diagnostics, []);
  assert.equal([...model.nodes.values()].map((n) => [n.name, n.zone]), [['node-a1', 'zone-a'], ['node-a2', 'zone-a'], ['node-b1', 'zone-b']]);
  assert.is(model.services.get('default/node-cache')!.internalTrafficPolicy, 'Local');
  assert.equal(model.endpoints.get('default/node-cache/6379')!.map((e) => e.nodeName), ['node-a1', 'node-b1']);
  assert.is(model.services.get('default/catalog')!.preferSameZone, true);
  assert.equal(model.endpoints.get('default/catalog/http')!.map((e) => [e.nodeName, e.zone, e.forZones]), [
    ['node-a1', 'zone-a', ['zone-a']],
    ['node-a2', 'zone-a', ['zone-a']],
    ['node-b1', 'zone-b', ['zone-b']],
  ]);
});

const bad = suite('fixtures/bad: one diagnostic per problem, the valid rest loads');

/** [file, doc, severity, kind, name, field, message] */
const expected: [string, number, 'error' | 'warning', string | undefined, string | undefined, string | undefined, RegExp][] = [
  ['01-syntax-error.yaml', 1, 'error', undefined, undefined, undefined, /^YAML syntax error: /],
  ['02-unknown-kind.yaml', 0, 'warning', 'Widget', 'settings', undefined, /^unknown kind, ignored/],
  ['03-bad-ip.yaml', 0, 'error', 'Service', 'bad-ip', 'spec.clusterIP', /^"10.96.0.300" is not a valid IP address$/],
  ['04-bad-port.yaml', 0, 'error', 'Service', 'bad-port', 'spec.ports[1].port', /^70000 is not a valid port \(1-65535\)$/],
  ['05-duplicate.yaml', 0, 'warning', 'Service', 'twice', 'metadata.name', /^Service is defined again at .*05-duplicate.yaml:10 \(doc 2\): that later one is used/],
  ['06-missing-backend.yaml', 0, 'error', 'HTTPRoute', 'half-missing', 'spec.rules[0].backendRefs[1].name', /^Service default\/does-not-exist does not exist/],
  ['07-named-port-missing.yaml', 0, 'error', 'Service', 'wrong-port-name', 'spec.ports[1].targetPort', /^"http" is not a port name of any endpoint$/],
];

bad('exactly the expected diagnostics, in file order, each with file, doc, line, kind, name and field', async () => {
  const model = await loadManifests([dir('bad')]);
  assert.is(model.diagnostics.length, expected.length, model.diagnostics.map((d) => d.message).join('\n'));
  model.diagnostics.forEach((d, i) => {
    const [file, doc, severity, kind, name, field, message] = expected[i]!;
    assert.ok(d.file.endsWith(`bad/${file}`), d.file);
    assert.equal([d.doc, d.severity, d.kind, d.name, d.field], [doc, severity, kind, name, field], file);
    assert.ok(d.line !== undefined && d.line > 1, `${file} has a line`);
    assert.match(d.message, message);
  });
});

bad('the lines point at the problem', async () => {
  const model = await loadManifests([dir('bad')]);
  const lineOf = (file: string) => model.diagnostics.find((d) => d.file.endsWith(file))!.line;
  assert.is(lineOf('03-bad-ip.yaml'), 7);
  assert.is(lineOf('04-bad-port.yaml'), 13);
  assert.is(lineOf('06-missing-backend.yaml'), 17);
  assert.is(lineOf('07-named-port-missing.yaml'), 15);
});

bad('the valid objects load', async () => {
  const model = await loadManifests([dir('bad')]);
  assert.equal([...model.services.keys()].sort(), ['default/before-syntax-error', 'default/twice', 'default/valid', 'default/wrong-port-name']);
  assert.is(model.services.get('default/twice')!.ports[0]!.port, 8080);
  assert.equal([...model.ignored], [['ConfigMap', 1]]);
  assert.is(model.endpoints.get('default/valid/80')!.length, 2);
  assert.ok(model.endpoints.get('default/valid/80')!.every((e) => e.port === 8080));
  assert.is(model.endpoints.get('default/wrong-port-name/main')!.length, 2);
  assert.equal(model.routes.map((r) => r.meta.name), ['half-missing']);
  assert.equal(model.routes[0]!.rules[0]!.backendRefs.map((b) => b.invalid), [undefined, 'BackendNotFound']);
});

productApi.run();
scenarios.run();
bad.run();
