import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel, type BuildOptions } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { cidrContains, parseAddress, parseCidr } from '../../src/model/ip.ts';
import type { Endpoint } from '../../src/model/types.ts';

function load(objects: object[], options?: BuildOptions) {
  return buildModel(parseManifests(objects.map((o) => JSON.stringify(o)).join('\n---\n'), 'test.yaml'), options);
}

function svc(name: string, spec: object, namespace = 'default'): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec };
}

function slice(name: string, service: string | undefined, body: object, namespace = 'default'): object {
  const labels = service ? { 'kubernetes.io/service-name': service } : {};
  return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name, namespace, labels }, addressType: 'IPv4', ...body };
}

function pod(name: string, labels: Record<string, string>, ip: string | undefined, extra: { spec?: object; status?: object; metadata?: object } = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels, ...extra.metadata },
    spec: { containers: [{ name: 'c', image: 'x' }], ...extra.spec },
    status: { ...(ip ? { podIP: ip } : {}), ...extra.status },
  };
}

function deployment(name: string, replicas: number | undefined, labels: Record<string, string>, kind = 'Deployment', ports: object[] = [{ containerPort: 8080 }]): object {
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'x', ports }] } },
    },
  };
}

const brief = (e: Endpoint) => `${e.ip}:${e.port}`;

const slices = suite('Endpoints from EndpointSlices');

/** [conditions as written, expected ready/serving/terminating] (EndpointConditions defaults). */
const conditionCases: [object | undefined, [boolean, boolean, boolean]][] = [
  [undefined, [true, true, false]],
  [{}, [true, true, false]],
  [{ ready: true }, [true, true, false]],
  [{ ready: false }, [false, false, false]],
  [{ serving: false }, [true, false, false]],
  [{ terminating: true }, [true, true, true]],
  [{ ready: false, serving: true, terminating: true }, [false, true, true]],
  [{ ready: false, serving: false, terminating: true }, [false, false, true]],
];
for (const [conditions, [ready, serving, terminating]] of conditionCases) {
  slices(`conditions ${JSON.stringify(conditions)} → ready ${ready}, serving ${serving}, terminating ${terminating}`, () => {
    const model = load([
      svc('s', { ports: [{ port: 80, targetPort: 8080 }] }),
      slice('s-1', 's', { ports: [{ port: 8080 }], endpoints: [{ addresses: ['10.1.0.1'], ...(conditions ? { conditions } : {}) }] }),
    ]);
    const [endpoint] = model.endpoints.get('default/s/80')!;
    assert.equal([endpoint!.ready, endpoint!.serving, endpoint!.terminating], [ready, serving, terminating]);
  });
}

slices('each Service port takes the slice port of the same name and protocol', () => {
  const model = load([
    svc('s', { ports: [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'dns', port: 53, protocol: 'UDP' }, { name: 'metrics', port: 9100 }] }),
    slice('s-1', 's', {
      ports: [{ name: 'metrics', port: 9200 }, { name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'TCP' }],
      endpoints: [{ addresses: ['10.1.0.1'] }],
    }),
  ]);
  assert.equal(model.endpoints.get('default/s/http')!.map(brief), ['10.1.0.1:8080']);
  assert.equal(model.endpoints.get('default/s/metrics')!.map(brief), ['10.1.0.1:9200']);
  assert.equal(model.endpoints.get('default/s/dns'), []);
  const warning = model.diagnostics.find((d) => d.field === 'spec.ports[1]');
  assert.ok(warning && warning.severity === 'warning' && /no EndpointSlice of this Service has a UDP port named "dns"/.test(warning.message));
});

slices('slices of the Service are merged in slice-name order; a repeated address:port is kept once', () => {
  const model = load([
    svc('s', { ports: [{ port: 80 }] }),
    slice('s-b', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: ['10.1.0.3'] }, { addresses: ['10.1.0.1'] }] }),
    slice('s-a', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: ['10.1.0.1'] }, { addresses: ['10.1.0.2', '10.1.0.9'] }] }),
    slice('other', 'other', { ports: [{ port: 80 }], endpoints: [{ addresses: ['10.9.9.9'] }] }),
    slice('s-elsewhere', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: ['10.8.8.8'] }] }, 'elsewhere'),
  ]);
  assert.equal(model.endpoints.get('default/s/80')!.map(brief), ['10.1.0.1:80', '10.1.0.2:80', '10.1.0.3:80']);
});

slices('nodeName, zone (from the Node when the slice has none), hints.forZones and the Pod behind it', () => {
  const model = load([
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'z1' } } },
    svc('s', { ports: [{ port: 80 }] }),
    slice('s-1', 's', {
      ports: [{ port: 80 }],
      endpoints: [
        { addresses: ['10.1.0.1'], nodeName: 'n1', hints: { forZones: [{ name: 'z1' }, { name: 'z2' }] }, targetRef: { kind: 'Pod', name: 'p1' } },
        { addresses: ['10.1.0.2'], nodeName: 'n2', zone: 'z2', targetRef: { kind: 'Pod', name: 'p2', namespace: 'other' } },
      ],
    }),
  ]);
  const [first, second] = model.endpoints.get('default/s/80')!;
  assert.equal(first, { ip: '10.1.0.1', family: 4, port: 80, ready: true, serving: true, terminating: false, nodeName: 'n1', zone: 'z1', forZones: ['z1', 'z2'], pod: { namespace: 'default', name: 'p1' } });
  assert.equal([second!.nodeName, second!.zone, second!.forZones, second!.pod], ['n2', 'z2', undefined, { namespace: 'other', name: 'p2' }]);
});

slices('IPv6 slices give IPv6 endpoints', () => {
  const model = load([
    svc('s', { clusterIPs: ['fd00:96::10'], ports: [{ port: 80 }] }),
    { ...slice('s-1', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: ['FD00:244::5'] }] }), addressType: 'IPv6' },
  ]);
  assert.equal(model.endpoints.get('default/s/80')!.map((e) => [e.ip, e.family]), [['fd00:244::5', 6]]);
});

slices('EndpointSlices win over the pods the selector matches', () => {
  const model = load([
    svc('s', { selector: { app: 's' }, ports: [{ port: 80 }] }),
    slice('s-1', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: ['10.1.0.1'] }] }),
    pod('p', { app: 's' }, '10.2.0.1'),
    deployment('d', 2, { app: 's' }),
  ]);
  assert.equal(model.endpoints.get('default/s/80')!.map(brief), ['10.1.0.1:80']);
});

/** [description, slice, severity, field, message] */
const badSlices: [string, object, 'error' | 'warning', string, RegExp][] = [
  ['an invalid address', slice('bad', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: ['10.1.0.256'] }] }), 'error', 'endpoints[0].addresses[0]', /"10.1.0.256" is not a valid IPv4 address/],
  ['an IPv6 address in an IPv4 slice', slice('bad', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: ['fd00::1'] }] }), 'error', 'endpoints[0].addresses[0]', /not a valid IPv4 address/],
  ['no addresses', slice('bad', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: [] }] }), 'error', 'endpoints[0].addresses', /at least one address/],
  ['a bad port', slice('bad', 's', { ports: [{ port: 0 }], endpoints: [{ addresses: ['10.1.0.1'] }] }), 'error', 'ports[0].port', /0 is not a valid port/],
  ['a condition that is not a boolean', slice('bad', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: ['10.1.0.1'], conditions: { ready: 'yes' } }] }), 'error', 'endpoints[0].conditions.ready', /must be true or false/],
  ['no addressType', { ...slice('bad', 's', { ports: [{ port: 80 }] }), addressType: undefined }, 'error', 'addressType', /is required/],
  ['FQDN addresses', { ...slice('bad', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: ['db.example.com'] }] }), addressType: 'FQDN' }, 'warning', 'addressType', /FQDN endpoints are not load-balanced/],
  ['no service-name label', slice('bad', undefined, { ports: [{ port: 80 }], endpoints: [{ addresses: ['10.1.0.1'] }] }), 'warning', 'metadata.labels', /no label kubernetes.io\/service-name/],
];
for (const [description, bad, severity, field, message] of badSlices) {
  slices(`a slice with ${description} is left out: ${severity} on ${field}`, () => {
    const model = load([svc('s', { ports: [{ port: 80 }] }), slice('good', 's', { ports: [{ port: 80 }], endpoints: [{ addresses: ['10.1.0.7'] }] }), bad]);
    const relevant = model.diagnostics.filter((d) => d.name === 'bad');
    assert.is(relevant.length, 1, JSON.stringify(model.diagnostics));
    const d = relevant[0]!;
    assert.equal([d.severity, d.file, d.doc, d.kind, d.namespace, d.field], [severity, 'test.yaml', 2, 'EndpointSlice', 'default', field]);
    assert.match(d.message, message);
    assert.equal(model.endpoints.get('default/s/80')!.map(brief), ['10.1.0.7:80']);
  });
}

const pods = suite('Endpoints from Pods selected by the Service');

pods('selects ready pods with an address in the namespace; finished pods and pods without IP are left out', () => {
  const model = load([
    svc('s', { selector: { app: 's' }, ports: [{ port: 80, targetPort: 8080 }] }),
    pod('p-b', { app: 's', extra: 'y' }, '10.2.0.2'),
    pod('p-a', { app: 's' }, '10.2.0.1'),
    pod('p-other-app', { app: 't' }, '10.2.0.3'),
    pod('p-no-ip', { app: 's' }, undefined),
    pod('p-done', { app: 's' }, '10.2.0.4', { status: { phase: 'Succeeded' } }),
    { ...(pod('p-elsewhere', { app: 's' }, '10.2.0.5') as { metadata: object }), metadata: { name: 'p-elsewhere', namespace: 'x', labels: { app: 's' } } },
  ]);
  const endpoints = model.endpoints.get('default/s/80')!;
  assert.equal(endpoints.map(brief), ['10.2.0.1:8080', '10.2.0.2:8080']);
  assert.equal(endpoints[0]!.pod, { namespace: 'default', name: 'p-a' });
  assert.is(model.pods.get('default/p-no-ip')!.ip, undefined);
});

/** [description, pod extras, ready, serving, terminating] */
const podStates: [string, { status?: object; metadata?: object }, boolean, boolean, boolean][] = [
  ['no conditions, has an IP: ready', {}, true, true, false],
  ['Ready True', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, true, true, false],
  ['Ready False', { status: { conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: 'False' }] } }, false, false, false],
  ['deletionTimestamp, still Ready: serving and terminating', { metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } }, false, true, true],
  ['deletionTimestamp, not Ready', { metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' }, status: { conditions: [{ type: 'Ready', status: 'False' }] } }, false, false, true],
];
for (const [description, extra, ready, serving, terminating] of podStates) {
  pods(`pod state: ${description}`, () => {
    const model = load([svc('s', { selector: { app: 's' }, ports: [{ port: 80 }] }), pod('p', { app: 's' }, '10.2.0.1', extra)]);
    const [endpoint] = model.endpoints.get('default/s/80')!;
    assert.equal([endpoint!.ready, endpoint!.serving, endpoint!.terminating], [ready, serving, terminating]);
  });
}

pods('a named targetPort resolves per pod; a pod without that name (or with another protocol) gets no endpoint', () => {
  const ports = (list: object[]) => ({ spec: { containers: [{ name: 'c', image: 'x', ports: list }] } });
  const model = load([
    svc('s', { selector: { app: 's' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' }] }),
    pod('p1', { app: 's' }, '10.2.0.1', ports([{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 5353, protocol: 'UDP' }])),
    pod('p2', { app: 's' }, '10.2.0.2', ports([{ name: 'http', containerPort: 9090 }, { name: 'dns', containerPort: 5353 }])),
    pod('p3', { app: 's' }, '10.2.0.3', ports([{ name: 'web', containerPort: 8000 }])),
  ]);
  assert.equal(model.endpoints.get('default/s/http')!.map(brief), ['10.2.0.1:8080', '10.2.0.2:9090']);
  assert.equal(model.endpoints.get('default/s/dns')!.map(brief), ['10.2.0.1:5353']);
  assert.equal(model.diagnostics, []);
});

pods('a named targetPort that no endpoint has is an error on the Service port', () => {
  const model = load([
    svc('svc', { selector: { app: 's' }, ports: [{ name: 'main', port: 80 }, { name: 'web', port: 8000, targetPort: 'http' }] }),
    pod('p1', { app: 's' }, '10.2.0.1', { spec: { containers: [{ name: 'c', ports: [{ name: 'web', containerPort: 8080 }] }] } }),
  ]);
  assert.is(model.diagnostics.length, 1);
  const d = model.diagnostics[0]!;
  assert.equal(
    [d.severity, d.file, d.doc, d.kind, d.namespace, d.name, d.field, d.message],
    ['error', 'test.yaml', 0, 'Service', 'default', 'svc', 'spec.ports[1].targetPort', '"http" is not a port name of any endpoint'],
  );
  assert.equal(model.endpoints.get('default/svc/web'), []);
  assert.equal(model.endpoints.get('default/svc/main')!.map(brief), ['10.2.0.1:80']);
});

pods('no error for a named targetPort when no pod is selected at all', () => {
  const model = load([svc('s', { selector: { app: 's' }, ports: [{ port: 80, targetPort: 'http' }] })]);
  assert.equal(model.diagnostics, []);
  assert.equal(model.endpoints.get('default/s/80'), []);
});

pods('a pod takes its zone from its node; a bad pod IP is an error and the pod gets no endpoint', () => {
  const model = load([
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'z1' } } },
    svc('s', { selector: { app: 's' }, ports: [{ port: 80 }] }),
    pod('p1', { app: 's' }, '10.2.0.1', { spec: { nodeName: 'n1' } }),
    pod('p2', { app: 's' }, '10.2.0.999'),
  ]);
  const endpoints = model.endpoints.get('default/s/80')!;
  assert.equal(endpoints.map((e) => [e.ip, e.nodeName, e.zone]), [['10.2.0.1', 'n1', 'z1']]);
  assert.equal(model.diagnostics.map((d) => [d.name, d.field, d.doc]), [['p2', 'status.podIP', 3]]);
  assert.equal(model.pods.get('default/p1')!.zone, 'z1');
});

pods('headless and ExternalName Services get no endpoints even when pods match', () => {
  const model = load([
    svc('headless', { clusterIP: 'None', selector: { app: 's' }, ports: [{ port: 80 }] }),
    svc('external', { type: 'ExternalName', externalName: 'db.example.com', selector: { app: 's' }, ports: [{ port: 80 }] }),
    pod('p', { app: 's' }, '10.2.0.1'),
  ]);
  assert.equal(model.endpoints.get('default/headless/80'), []);
  assert.equal(model.endpoints.get('default/external/80'), []);
  assert.ok(model.services.has('default/headless') && model.services.has('default/external'));
});

pods('a Service without selector and without slices has no endpoints', () => {
  const model = load([svc('manual', { ports: [{ port: 80 }] }), pod('p', { app: 's' }, '10.2.0.1')]);
  assert.equal(model.endpoints.get('default/manual/80'), []);
});

const synthesized = suite('Endpoints from pods synthesized for workloads (simulation)');

synthesized('a Deployment gets replicas pods named like Kubernetes names them, ready, in the pod CIDR', () => {
  const model = load([svc('web', { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] }), deployment('web', 3, { app: 'web' })]);
  const pods = [...model.pods.values()];
  assert.is(pods.length, 3);
  const cidr = parseCidr('10.244.0.0/16')!;
  const templateHashes = new Set<string>();
  for (const pod of pods) {
    const match = /^web-([0-9a-f]{10})-[bcdfghjklmnpqrstvwxz2456789]{5}$/.exec(pod.meta.name);
    assert.ok(match, pod.meta.name);
    templateHashes.add(match[1]!);
    assert.ok(cidrContains(cidr, parseAddress(pod.ip!)!));
    assert.not.ok(pod.ip === '10.244.0.0' || pod.ip === '10.244.0.1' || pod.ip === '10.244.255.255');
    assert.equal([pod.synthesized, pod.owner, pod.ready, pod.terminating, pod.nodeName], [true, 'Deployment/web', true, false, undefined]);
  }
  assert.is(templateHashes.size, 1);
  assert.is(new Set(pods.map((p) => p.ip)).size, 3);
  const endpoints = model.endpoints.get('default/web/80')!;
  assert.equal(endpoints.map((e) => e.ip).sort(), pods.map((p) => p.ip!).sort());
  assert.ok(endpoints.every((e) => e.port === 8080 && e.ready && e.serving && !e.terminating));
});

synthesized('StatefulSet pods are <name>-0..n-1; ReplicaSet pods <name>-<5 chars>; replicas default to 1, 0 means none', () => {
  const model = load([
    deployment('db', 3, { app: 'db' }, 'StatefulSet'),
    deployment('rs', undefined, { app: 'rs' }, 'ReplicaSet'),
    deployment('idle', 0, { app: 'idle' }),
  ]);
  const names = [...model.pods.keys()];
  assert.equal(names.filter((n) => n.startsWith('default/db-')), ['default/db-0', 'default/db-1', 'default/db-2']);
  const rs = names.filter((n) => n.startsWith('default/rs-'));
  assert.is(rs.length, 1);
  assert.match(rs[0]!, /^default\/rs-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  assert.not.ok(names.some((n) => n.includes('idle')));
});

synthesized('names and addresses are the same across runs and document orders', () => {
  const objects = [deployment('a', 3, { app: 'a' }), deployment('b', 2, { app: 'b' }, 'StatefulSet'), deployment('c', 4, { app: 'c' }), svc('a', { selector: { app: 'a' }, ports: [{ port: 80 }] })];
  const snapshot = (model: ReturnType<typeof load>) => [...model.pods.values()].map((p) => `${p.meta.name}=${p.ip}`).sort();
  const first = snapshot(load(objects));
  assert.equal(snapshot(load(objects)), first);
  assert.equal(snapshot(load([...objects].reverse())), first);
  assert.is(new Set(first.map((entry) => entry.split('=')[1])).size, 9);
});

synthesized('synthesized addresses avoid real pods\' addresses', () => {
  const baseline = load([deployment('a', 1, { app: 'a' })]);
  const taken = [...baseline.pods.values()][0]!.ip!;
  const model = load([deployment('a', 1, { app: 'a' }), pod('real', { app: 'other' }, taken)]);
  const made = [...model.pods.values()].find((p) => p.synthesized)!;
  assert.ok(made.ip);
  assert.is.not(made.ip, taken);
});

synthesized('synthesize: false (the agent) makes no pods', () => {
  const model = load([svc('web', { selector: { app: 'web' }, ports: [{ port: 80 }] }), deployment('web', 3, { app: 'web' })], { synthesize: false });
  assert.is(model.pods.size, 0);
  assert.equal(model.endpoints.get('default/web/80'), []);
});

synthesized('a workload whose pods are in the input gets no made-up pods', () => {
  const model = load([svc('web', { selector: { app: 'web' }, ports: [{ port: 80 }] }), deployment('web', 3, { app: 'web' }), pod('web-real', { app: 'web' }, '10.2.0.1')]);
  assert.equal([...model.pods.keys()], ['default/web-real']);
  assert.equal(model.endpoints.get('default/web/80')!.map(brief), ['10.2.0.1:80']);
});

synthesized('podCIDR option, and pods spread over options.nodes with their zones', () => {
  const nodes = [{ name: 'n1', zone: 'z1' }, { name: 'n2', zone: 'z2' }, { name: 'n3' }];
  const model = load([deployment('web', 6, { app: 'web' })], { podCIDR: '192.168.0.0/24', nodes });
  const pods = [...model.pods.values()];
  assert.ok(pods.every((p) => cidrContains(parseCidr('192.168.0.0/24')!, parseAddress(p.ip!)!)));
  const perNode = new Map<string, number>();
  for (const p of pods) perNode.set(p.nodeName!, (perNode.get(p.nodeName!) ?? 0) + 1);
  assert.equal([...perNode.entries()].sort(), [['n1', 2], ['n2', 2], ['n3', 2]]);
  assert.ok(pods.every((p) => p.zone === nodes.find((n) => n.name === p.nodeName)!.zone));
  assert.ok(model.nodes.has('n1') && model.nodes.get('n2')!.zone === 'z2');
});

synthesized('a named targetPort resolves from the template\'s container ports', () => {
  const model = load([
    svc('dns', { selector: { app: 'dns' }, ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' }] }),
    deployment('dns', 2, { app: 'dns' }, 'Deployment', [{ name: 'dns', containerPort: 5353, protocol: 'UDP' }]),
  ]);
  assert.equal(model.endpoints.get('default/dns/dns')!.map((e) => e.port), [5353, 5353]);
});

synthesized('a workload whose selector does not match its template labels is an error and makes no pods', () => {
  const bad = deployment('web', 2, { app: 'web' }) as { spec: { template: { metadata: { labels: object } } } };
  bad.spec.template.metadata.labels = { app: 'other' };
  const model = load([bad]);
  assert.is(model.pods.size, 0);
  assert.equal(model.diagnostics.map((d) => [d.kind, d.name, d.field]), [['Deployment', 'web', 'spec.template.metadata.labels']]);
});

synthesized('a full pod CIDR is one error on the workload; the pods that fit get addresses', () => {
  const model = load([deployment('web', 7, { app: 'web' })], { podCIDR: '10.0.0.0/29' });
  assert.is([...model.pods.values()].filter((p) => p.ip).length, 5);
  assert.is(model.diagnostics.filter((d) => d.name === 'web' && d.field === 'spec.replicas').length, 1);
});

const skip = suite('meshc.io/skip marks pods and namespaces');

skip('Pods, workload templates and Namespaces with the annotation are kept and marked', () => {
  const skipped = { annotations: { 'meshc.io/skip': 'true' } };
  const template = deployment('made', 1, { app: 'made' }) as { spec: { template: { metadata: object } } };
  template.spec.template.metadata = { labels: { app: 'made' }, ...skipped };
  const model = load([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'legacy', ...skipped } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
    pod('p', { app: 'p' }, '10.2.0.1', { metadata: skipped }),
    pod('q', { app: 'q' }, '10.2.0.2', { metadata: { annotations: { 'meshc.io/skip': 'false' } } }),
    template,
  ]);
  assert.is(model.namespaces.get('legacy')!.skip, true);
  assert.is(model.namespaces.get('shop')!.skip, undefined);
  assert.is(model.pods.get('default/p')!.meta.skip, true);
  assert.is(model.pods.get('default/q')!.meta.skip, undefined);
  assert.is([...model.pods.values()].find((p) => p.synthesized)!.meta.skip, true);
});

slices.run();
pods.run();
synthesized.run();
skip.run();
