import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel, type BuildOptions } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { parseAddress, parseCidr, cidrContains } from '../../src/model/ip.ts';
import type { Diagnostic, Service } from '../../src/model/types.ts';

/** Builds a model from objects written as JSON documents (JSON is YAML) in one file. */
function load(objects: object[], options?: BuildOptions) {
  return buildModel(parseManifests(objects.map((o) => JSON.stringify(o)).join('\n---\n'), 'test.yaml'), options);
}

function svc(name: string, spec: object, metadata: object = {}): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, ...metadata }, spec };
}

const defaults = suite('Service: defaults and fields');

const defaultCases: [string, object, object, Partial<Service>][] = [
  [
    'plain ClusterIP: every default',
    { ports: [{ port: 80 }] },
    {},
    {
      type: 'ClusterIP',
      headless: false,
      ports: [{ name: '', port: 80, protocol: 'TCP', targetPort: 80 }],
      sessionAffinity: 'None',
      affinityTimeoutSeconds: 10800,
      internalTrafficPolicy: 'Cluster',
      preferSameZone: false,
      algorithm: 'random',
      selector: undefined,
    },
  ],
  ['ClientIP affinity with its timeout', { ports: [{ port: 80 }], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 30 } } }, {}, { sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 30 }],
  ['ClientIP affinity, default timeout', { ports: [{ port: 80 }], sessionAffinity: 'ClientIP' }, {}, { sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 10800 }],
  ['internalTrafficPolicy Local', { ports: [{ port: 80 }], internalTrafficPolicy: 'Local' }, {}, { internalTrafficPolicy: 'Local' }],
  ['trafficDistribution PreferClose', { ports: [{ port: 80 }], trafficDistribution: 'PreferClose' }, {}, { preferSameZone: true }],
  ['trafficDistribution PreferSameZone', { ports: [{ port: 80 }], trafficDistribution: 'PreferSameZone' }, {}, { preferSameZone: true }],
  ['lb-algorithm annotation', { ports: [{ port: 80 }] }, { annotations: { 'meshc.io/lb-algorithm': 'maglev' } }, { algorithm: 'maglev' }],
  ['lb-algorithm least-conn', { ports: [{ port: 80 }] }, { annotations: { 'meshc.io/lb-algorithm': 'least-conn' } }, { algorithm: 'least-conn' }],
  ['headless', { clusterIP: 'None', selector: { app: 'x' }, ports: [{ port: 80 }] }, {}, { headless: true, clusterIPs: [], selector: { app: 'x' } }],
  ['headless without ports', { clusterIP: 'None' }, {}, { headless: true, clusterIPs: [], ports: [] }],
  ['ExternalName keeps externalName and gets no ClusterIP', { type: 'ExternalName', externalName: 'db.example.com' }, {}, { type: 'ExternalName', externalName: 'db.example.com', clusterIPs: [] }],
  ['explicit clusterIP kept', { clusterIP: '10.96.0.10', ports: [{ port: 53, protocol: 'UDP' }] }, {}, { clusterIPs: ['10.96.0.10'], ports: [{ name: '', port: 53, protocol: 'UDP', targetPort: 53 }] }],
  ['dual-stack clusterIPs, IPv6 written canonically', { clusterIPs: ['10.96.0.20', 'FD00::0:20'], ports: [{ port: 80 }] }, {}, { clusterIPs: ['10.96.0.20', 'fd00::20'] }],
  ['empty selector means no selector', { selector: {}, ports: [{ port: 80 }] }, {}, { selector: undefined }],
  ['NodePort gets a ClusterIP too', { type: 'NodePort', ports: [{ port: 80 }] }, {}, { type: 'NodePort' }],
  [
    'named ports, named targetPort, appProtocol',
    { ports: [{ name: 'http', port: 80, targetPort: 'web', appProtocol: 'http' }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] },
    {},
    { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 'web', appProtocol: 'http' }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] },
  ],
];

for (const [description, spec, metadata, expected] of defaultCases) {
  defaults(description, () => {
    const model = load([svc('s', spec, metadata)]);
    assert.equal(model.diagnostics, []);
    const service = model.services.get('default/s');
    assert.ok(service, 'service loaded');
    for (const [field, value] of Object.entries(expected)) {
      assert.equal(service[field as keyof Service], value, field);
    }
  });
}

defaults('a ClusterIP Service without clusterIP gets one in 10.96.0.0/12, never .0 or .1', () => {
  const model = load(Array.from({ length: 50 }, (_, i) => svc(`s${i}`, { ports: [{ port: 80 }] })));
  const cidr = parseCidr('10.96.0.0/12')!;
  const ips = [...model.services.values()].map((s) => s.clusterIPs[0]!);
  assert.is(new Set(ips).size, 50);
  for (const ip of ips) {
    assert.ok(cidrContains(cidr, parseAddress(ip)!), ip);
    assert.not.ok(ip === '10.96.0.0' || ip === '10.96.0.1', ip);
  }
});

defaults('metadata: namespace defaults to default, labels and annotations kept, source recorded', () => {
  const model = load([svc('a', { ports: [{ port: 80 }] }, { labels: { app: 'a' } }), svc('b', { ports: [{ port: 80 }] }, { namespace: 'shop' })]);
  assert.equal(model.services.get('default/a')!.meta.labels, { app: 'a' });
  assert.equal(model.services.get('default/a')!.meta.source, { file: 'test.yaml', doc: 0 });
  assert.is(model.services.get('shop/b')!.meta.namespace, 'shop');
  assert.equal(model.services.get('shop/b')!.meta.source, { file: 'test.yaml', doc: 1 });
});

const ips = suite('Service: ClusterIP assignment is deterministic');

ips('the same Services in another document order get the same IPs', () => {
  const services = Array.from({ length: 30 }, (_, i) => svc(`svc-${i}`, { ports: [{ port: 80 }] }, { namespace: i % 2 ? 'a' : 'b' }));
  services.push(svc('fixed', { clusterIP: '10.100.0.1', ports: [{ port: 80 }] }));
  const forward = load(services);
  const backward = load([...services].reverse());
  const shuffled = load(services.map((s, i) => [s, (i * 7919) % 31] as const).sort((a, b) => a[1] - b[1]).map(([s]) => s));
  const ipsOf = (model: ReturnType<typeof load>) => new Map([...model.services].map(([key, s]) => [key, s.clusterIPs[0]]));
  assert.equal(ipsOf(backward), ipsOf(forward));
  assert.equal(ipsOf(shuffled), ipsOf(forward));
});

ips('a manifest address is never handed to another Service, whatever the order', () => {
  const hashed = load([svc('a', { ports: [{ port: 80 }] })]).services.get('default/a')!.clusterIPs[0]!;
  const taken = svc('b', { clusterIP: hashed, ports: [{ port: 80 }] });
  for (const order of [[svc('a', { ports: [{ port: 80 }] }), taken], [taken, svc('a', { ports: [{ port: 80 }] })]]) {
    const model = load(order);
    assert.is(model.services.get('default/b')!.clusterIPs[0], hashed);
    const other = model.services.get('default/a')!.clusterIPs[0];
    assert.ok(other);
    assert.is.not(other, hashed);
  }
});

ips('serviceCIDR option: addresses come from it', () => {
  const model = load([svc('a', { ports: [{ port: 80 }] })], { serviceCIDR: '172.20.0.0/16' });
  assert.ok(cidrContains(parseCidr('172.20.0.0/16')!, parseAddress(model.services.get('default/a')!.clusterIPs[0]!)!));
});

ips('an invalid serviceCIDR or podCIDR option throws, naming the option', () => {
  assert.throws(() => load([], { serviceCIDR: '10.96.0.0/40' }), /serviceCIDR: "10.96.0.0\/40" is not a valid CIDR/);
  assert.throws(() => load([], { podCIDR: 'nope' }), /podCIDR/);
});

ips('a full service CIDR is an error on each Service left without an address', () => {
  const model = load(Array.from({ length: 7 }, (_, i) => svc(`s${i}`, { ports: [{ port: 80 }] })), { serviceCIDR: '10.0.0.0/29' });
  assert.is(model.services.size, 5);
  const errors = model.diagnostics.filter((d) => d.field === 'spec.clusterIP');
  assert.is(errors.length, 2);
  assert.match(errors[0]!.message, /no free address left/);
});

ips('two Services with the same manifest clusterIP: the second (by namespace/name) is an error and dropped', () => {
  const model = load([svc('b', { clusterIP: '10.96.5.5', ports: [{ port: 80 }] }), svc('a', { clusterIP: '10.96.5.5', ports: [{ port: 80 }] })]);
  assert.ok(model.services.has('default/a'));
  assert.not.ok(model.services.has('default/b'));
  assert.is(model.diagnostics.length, 1);
  assert.is(model.diagnostics[0]!.name, 'b');
  assert.is(model.diagnostics[0]!.doc, 0);
  assert.match(model.diagnostics[0]!.message, /already the ClusterIP of Service default\/a/);
});

const invalid = suite('Service: invalid input gives one diagnostic naming file, doc, object and field');

/** [description, spec, metadata, field, message pattern, is the Service still loaded] */
const invalidCases: [string, object, object, string, RegExp, boolean][] = [
  ['port above 65535', { ports: [{ port: 70000 }] }, {}, 'spec.ports[0].port', /^70000 is not a valid port \(1-65535\)$/, false],
  ['port 0', { ports: [{ port: 0 }] }, {}, 'spec.ports[0].port', /0 is not a valid port/, false],
  ['port missing', { ports: [{ name: 'x' }] }, {}, 'spec.ports[0].port', /is required/, false],
  ['port as a string', { ports: [{ port: '80' }] }, {}, 'spec.ports[0].port', /must be an integer/, false],
  ['targetPort out of range', { ports: [{ port: 80, targetPort: 65536 }] }, {}, 'spec.ports[0].targetPort', /65536 is not a valid port/, false],
  ['targetPort a digit string', { ports: [{ port: 80, targetPort: '8080' }] }, {}, 'spec.ports[0].targetPort', /neither a port number nor a valid port name/, false],
  ['targetPort name too long', { ports: [{ port: 80, targetPort: 'a-very-long-port-name' }] }, {}, 'spec.ports[0].targetPort', /not a valid port name|neither/, false],
  ['unknown protocol', { ports: [{ port: 80, protocol: 'HTTP' }] }, {}, 'spec.ports[0].protocol', /"HTTP" is not one of TCP, UDP, SCTP/, false],
  ['second port without a name', { ports: [{ name: 'a', port: 80 }, { port: 81 }] }, {}, 'spec.ports[1].name', /required when the Service has more than one port/, false],
  ['duplicate port name', { ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] }, {}, 'spec.ports[1].name', /duplicate port name "a"/, false],
  ['duplicate port number and protocol', { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }, {}, 'spec.ports[1].port', /duplicate port 80\/TCP/, false],
  ['bad port name', { ports: [{ name: 'HTTP_1', port: 80 }] }, {}, 'spec.ports[0].name', /not a valid port name/, false],
  ['no ports', { selector: { app: 'x' } }, {}, 'spec.ports', /at least one port/, false],
  ['bad IPv4 clusterIP', { clusterIP: '10.96.0.300', ports: [{ port: 80 }] }, {}, 'spec.clusterIP', /^"10.96.0.300" is not a valid IP address$/, false],
  ['bad IPv6 clusterIP', { clusterIP: 'fd00::g1', ports: [{ port: 80 }] }, {}, 'spec.clusterIP', /"fd00::g1" is not a valid IP address/, false],
  ['bad entry in clusterIPs', { clusterIPs: ['10.96.0.20', 'fd00:::1'], ports: [{ port: 80 }] }, {}, 'spec.clusterIPs[1]', /not a valid IP address/, false],
  ['two IPv4 clusterIPs', { clusterIPs: ['10.96.0.20', '10.96.0.21'], ports: [{ port: 80 }] }, {}, 'spec.clusterIPs[1]', /one address per family/, false],
  ['clusterIPs[0] differs from clusterIP', { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.21'], ports: [{ port: 80 }] }, {}, 'spec.clusterIPs[0]', /must equal spec.clusterIP/, false],
  ['headless NodePort', { type: 'NodePort', clusterIP: 'None', ports: [{ port: 80 }] }, {}, 'spec.clusterIP', /needs type ClusterIP/, false],
  ['ExternalName without externalName', { type: 'ExternalName' }, {}, 'spec.externalName', /is required/, false],
  ['ExternalName with a bad name', { type: 'ExternalName', externalName: 'not a name' }, {}, 'spec.externalName', /not a valid DNS name/, false],
  ['ExternalName with a clusterIP', { type: 'ExternalName', externalName: 'db.example.com', clusterIP: '10.96.0.9' }, {}, 'spec.clusterIP', /must not be set/, false],
  ['unknown type', { type: 'Internal', ports: [{ port: 80 }] }, {}, 'spec.type', /"Internal" is not one of/, false],
  ['unknown sessionAffinity', { sessionAffinity: 'Cookie', ports: [{ port: 80 }] }, {}, 'spec.sessionAffinity', /"Cookie" is not one of None, ClientIP/, false],
  ['affinity timeout 0', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }, ports: [{ port: 80 }] }, {}, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', /0 is not a valid timeout in seconds \(1-86400\)/, false],
  ['affinity timeout above a day', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } }, ports: [{ port: 80 }] }, {}, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', /86401/, false],
  ['unknown internalTrafficPolicy', { internalTrafficPolicy: 'Node', ports: [{ port: 80 }] }, {}, 'spec.internalTrafficPolicy', /"Node" is not one of Cluster, Local/, false],
  ['unknown trafficDistribution', { trafficDistribution: 'Nearby', ports: [{ port: 80 }] }, {}, 'spec.trafficDistribution', /"Nearby"/, false],
  ['selector value not a string', { selector: { enabled: true }, ports: [{ port: 80 }] }, {}, 'spec.selector.enabled', /must be a string, got boolean true \(quote it\)/, false],
  ['ports not a list', { ports: { port: 80 } }, {}, 'spec.ports', /must be a list/, false],
  ['bad Service name', { ports: [{ port: 80 }] }, { name: 'Product_API' }, 'metadata.name', /not a valid name/, false],
  ['Service name starting with a digit', { ports: [{ port: 80 }] }, { name: '1st' }, 'metadata.name', /not a valid Service name \(DNS-1035/, false],
  ['bad lb-algorithm: error, falls back to random', { ports: [{ port: 80 }] }, { annotations: { 'meshc.io/lb-algorithm': 'fastest' } }, 'metadata.annotations["meshc.io/lb-algorithm"]', /"fastest" is not one of random, round-robin, maglev, least-conn; using random/, true],
];

for (const [description, spec, metadata, field, message, loaded] of invalidCases) {
  invalid(description, () => {
    const name = (metadata as { name?: string }).name ?? 'broken';
    const model = load([svc('fine', { ports: [{ port: 80 }] }), { ...svc(name, spec, metadata), metadata: { name, ...metadata } }]);
    const errors = model.diagnostics.filter((d) => d.severity === 'error');
    assert.is(errors.length, 1, JSON.stringify(model.diagnostics));
    const d = errors[0]!;
    assert.equal(
      { file: d.file, doc: d.doc, kind: d.kind, namespace: d.namespace, name: d.name, field: d.field },
      { file: 'test.yaml', doc: 1, kind: 'Service', namespace: 'default', name, field },
    );
    assert.ok(d.line !== undefined && d.line >= 1, 'has a line');
    assert.match(d.message, message);
    assert.is(model.services.has(`default/${name}`), loaded);
    assert.ok(model.services.has('default/fine'), 'the valid Service still loads');
    if (loaded) assert.is(model.services.get(`default/${name}`)!.algorithm, 'random');
  });
}

invalid('several problems in one Service: one diagnostic each', () => {
  const model = load([svc('s', { type: 'Bogus', ports: [{ port: 0 }, { port: 80, protocol: 'ICMP' }] })]);
  assert.equal(
    model.diagnostics.map((d: Diagnostic) => d.field),
    ['spec.type', 'spec.ports[0].name', 'spec.ports[0].port', 'spec.ports[1].name', 'spec.ports[1].protocol'],
  );
});

defaults.run();
ips.run();
invalid.run();
