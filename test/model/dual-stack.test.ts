// Issue 12 item 5: dual-stack Services (spec.ipFamilies, spec.ipFamilyPolicy) get a ClusterIP of
// each family they ask for, IPv6 ones from a default IPv6 service CIDR; made-up pods get both
// families; what cannot be served is reported at spec.ipFamilies.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel, DEFAULT_SERVICE_CIDR_V6 } from '../../src/model/build.ts';
import { cidrContains, parseAddress, parseCidr } from '../../src/model/ip.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { simulate } from '../../src/sim/simulate.ts';
import type { Model } from '../../src/model/types.ts';

type Obj = Record<string, unknown>;

const service = (spec: Obj): Obj => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api' }, spec: { selector: { app: 'api' }, ports: [{ port: 80, targetPort: 8080 }], ...spec } });
const deployment: Obj = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api' }, spec: { replicas: 3, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } } } } };

function build(objects: Obj[]): Model {
  return buildModel(objects.map((object, doc) => ({ file: 'm.yaml', doc, object })));
}

const v6Block = parseCidr(DEFAULT_SERVICE_CIDR_V6)!;
const v4Block = parseCidr('10.96.0.0/12')!;
const familiesOf = (ips: string[]) => ips.map((ip) => {
  const address = parseAddress(ip)!;
  assert.ok(cidrContains(address.family === 4 ? v4Block : v6Block, address), `${ip} is in its service CIDR`);
  return address.family;
});

const allocation = suite('dual-stack: ClusterIPs of each family the Service asks for');

/** [description, spec, the families of its ClusterIPs, primary first] */
const cases: [string, Obj, number[]][] = [
  ['nothing written: one IPv4 (the cluster\'s default family)', {}, [4]],
  ['ipFamilies [IPv6]: one IPv6', { ipFamilies: ['IPv6'] }, [6]],
  ['ipFamilies [IPv6], SingleStack', { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] }, [6]],
  ['[IPv6, IPv4] RequireDualStack: IPv6 first', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] }, [6, 4]],
  ['[IPv4, IPv6] without a policy: both (the API server defaults it to RequireDualStack)', { ipFamilies: ['IPv4', 'IPv6'] }, [4, 6]],
  ['PreferDualStack alone: IPv4 then IPv6', { ipFamilyPolicy: 'PreferDualStack' }, [4, 6]],
  ['RequireDualStack with [IPv6]: IPv6 then IPv4', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'] }, [6, 4]],
  ['a written IPv4 ClusterIP and PreferDualStack: the IPv6 one is added', { clusterIP: '10.96.5.5', ipFamilyPolicy: 'PreferDualStack' }, [4, 6]],
  ['a written IPv6 ClusterIP: IPv6 only', { clusterIP: 'fd00:10:96::77' }, [6]],
];
for (const [description, spec, families] of cases) {
  allocation(description, () => {
    const model = build([service(spec)]);
    assert.equal(model.diagnostics, []);
    const svc = model.services.get('default/api')!;
    assert.equal(familiesOf(svc.clusterIPs), families);
    if (spec['clusterIP']) assert.is(svc.clusterIPs[0], spec['clusterIP']);
  });
}

allocation('the same manifests give the same addresses, whatever the document order', () => {
  const other = { ...service({ ipFamilyPolicy: 'PreferDualStack' }), metadata: { name: 'other' } };
  const a = build([service({ ipFamilyPolicy: 'PreferDualStack' }), other]);
  const b = build([other, service({ ipFamilyPolicy: 'PreferDualStack' })]);
  assert.equal(a.services.get('default/api')!.clusterIPs, b.services.get('default/api')!.clusterIPs);
  assert.is.not(a.services.get('default/api')!.clusterIPs[1], a.services.get('default/other')!.clusterIPs[1]);
});

const invalid = suite('dual-stack: what the API server refuses');

/** [description, spec, field] */
const bad: [string, Obj, string][] = [
  ['SingleStack with two families', { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4', 'IPv6'] }, 'spec.ipFamilies'],
  ['a family twice', { ipFamilies: ['IPv4', 'IPv4'] }, 'spec.ipFamilies[1]'],
  ['an unknown family', { ipFamilies: ['IPv5'] }, 'spec.ipFamilies[0]'],
  ['an unknown policy', { ipFamilyPolicy: 'DualStack' }, 'spec.ipFamilyPolicy'],
  ['a family that does not match the written ClusterIP', { clusterIP: '10.96.5.5', ipFamilies: ['IPv6'] }, 'spec.ipFamilies[0]'],
];
for (const [description, spec, field] of bad) {
  invalid(description, () => {
    const model = build([service(spec)]);
    assert.equal(model.diagnostics.map((d) => [d.severity, d.field]), [['error', field]]);
    assert.is(model.services.size, 0);
  });
}

const endpoints = suite('dual-stack: endpoints of both families');

endpoints('made-up pods get an address of each family; each ClusterIP has endpoints of its own family', () => {
  const model = build([service({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] }), deployment]);
  assert.equal(model.diagnostics, []);
  const pods = [...model.pods.values()];
  assert.is(pods.length, 3);
  for (const pod of pods) assert.equal(pod.ips.map((ip) => parseAddress(ip)!.family), [4, 6]);
  const list = model.endpoints.get('default/api/80')!;
  assert.is(list.filter((e) => e.family === 4).length, 3);
  assert.is(list.filter((e) => e.family === 6).length, 3);
});

endpoints('without an IPv6 Service, made-up pods stay IPv4-only', () => {
  const model = build([service({}), deployment]);
  for (const pod of model.pods.values()) assert.is(pod.ips.length, 1);
});

endpoints('real pods with IPv4 only behind a dual-stack Service: the IPv6 ClusterIP is reported', () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { app: 'api' } }, status: { podIP: '10.244.0.9' } };
  const model = build([service({ ipFamilyPolicy: 'PreferDualStack' }), pod]);
  assert.equal(model.diagnostics.map((d) => [d.severity, d.kind, d.field]), [['warning', 'Service', 'spec.ipFamilies']]);
  assert.match(model.diagnostics[0]!.message, /no selected pod has an IPv6 address, so connections to the ClusterIP fd00:10:96::[0-9a-f]+ are refused/);
});

endpoints('simulate: connections to the primary (IPv6) ClusterIP go to IPv6 pod addresses', async () => {
  const model = build([service({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] }), deployment]);
  const result = simulate(model, await loadPolicyWasm(), { to: { name: 'api', port: 80 }, connections: 300, seed: 3 });
  assert.ok(result.service.clusterIP.includes(':'), result.service.clusterIP);
  assert.is(result.refused, 0);
  assert.is(result.backends.length, 3);
  for (const b of result.backends) assert.ok(b.ip.includes(':') && b.count > 0, JSON.stringify(b));
});

const routes = suite('dual-stack: a route to a Service without its parent\'s family says so');

const other = (name: string, spec: Obj): Obj => ({ ...service(spec), metadata: { name } });
const splitRoute: Obj = {
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' },
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'api', port: 80 }], rules: [{ backendRefs: [{ name: 'v4', port: 80 }, { name: 'api', port: 80 }] }] },
};

/** [description, parent spec, backendRef Service spec, reported families] */
const familyCases: [string, Obj, Obj, number[]][] = [
  ['dual-stack parent, IPv4-only backendRef: its IPv6 share is refused, reported', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] }, {}, [6]],
  ['IPv6 parent, IPv4-only backendRef: reported', { ipFamilies: ['IPv6'] }, {}, [6]],
  ['IPv4 parent, IPv6-only backendRef: reported', {}, { ipFamilies: ['IPv6'] }, [4]],
  ['both dual-stack: nothing to say', { ipFamilyPolicy: 'PreferDualStack' }, { ipFamilyPolicy: 'PreferDualStack' }, []],
  ['IPv4 parent, dual-stack backendRef: nothing to say', {}, { ipFamilyPolicy: 'PreferDualStack' }, []],
];
for (const [description, parentSpec, backendSpec, families] of familyCases) {
  routes(description, async () => {
    const model = build([service(parentSpec), other('v4', backendSpec), deployment, splitRoute]);
    const reports = model.diagnostics.filter((d) => d.kind === 'HTTPRoute');
    assert.equal(reports.map((d) => [d.severity, d.field]), families.map(() => ['warning', 'spec.rules[0].backendRefs[0]']));
    families.forEach((family, i) => assert.match(reports[i]!.message, new RegExp(`^Service default/v4 has no IPv${family} ClusterIP or endpoints .*so the share of connections to default/api's ClusterIP \\S+ sent to it is refused$`)));
    // What is said is what happens: the parent's ClusterIP of that family refuses v4's share.
    const api = model.services.get('default/api')!;
    for (const ip of api.clusterIPs) {
      const result = simulate(model, await loadPolicyWasm(), { to: { clusterIP: ip, port: 80 }, connections: 400, seed: 5 });
      const refused = result.refused / result.connections;
      if (families.includes(ip.includes(':') ? 6 : 4)) assert.ok(Math.abs(refused - 0.5) < 0.1, `${ip}: ${refused} refused`);
      else assert.is(result.refused, 0, ip);
    }
  });
}

allocation.run();
invalid.run();
endpoints.run();
routes.run();
