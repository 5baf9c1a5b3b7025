import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { formatDiagnostic, formatFieldPath } from '../../src/model/diagnostics.ts';
import type { Diagnostic } from '../../src/model/types.ts';

const load = (yaml: string) => buildModel(parseManifests(yaml, 'k.yaml'));

const format = suite('formatDiagnostic');

const formatCases: [string, Diagnostic, string][] = [
  [
    'an error on a field of an object',
    { severity: 'error', file: 'fixtures/x.yaml', doc: 1, line: 12, kind: 'Service', namespace: 'default', name: 'product-api', field: 'spec.ports[0].port', message: '70000 is not a valid port (1-65535)' },
    'fixtures/x.yaml:12 (doc 2) Service default/product-api: spec.ports[0].port: 70000 is not a valid port (1-65535)',
  ],
  ['a warning about an object', { severity: 'warning', file: 'a.yaml', doc: 0, line: 2, kind: 'ConfigMap', namespace: 'default', name: 'c', message: 'unknown kind, ignored' }, 'a.yaml:2 (doc 1) warning: ConfigMap default/c: unknown kind, ignored'],
  ['a cluster-scoped object, no line', { severity: 'error', file: 'n.yaml', doc: 3, kind: 'Node', name: 'n1', field: 'metadata.name', message: 'bad' }, 'n.yaml (doc 4) Node n1: metadata.name: bad'],
  ['a whole-file problem', { severity: 'error', file: 'gone.yaml', doc: -1, message: 'cannot read: ENOENT' }, 'gone.yaml: cannot read: ENOENT'],
  ['a syntax error', { severity: 'error', file: 's.yaml', doc: 0, line: 4, message: 'YAML syntax error: oops' }, 's.yaml:4 (doc 1): YAML syntax error: oops'],
];
for (const [description, diagnostic, text] of formatCases) {
  format(description, () => assert.is(formatDiagnostic(diagnostic), text));
}

format('formatFieldPath: indexes in brackets, keys with dots or slashes quoted', () => {
  assert.is(formatFieldPath(['spec', 'ports', 1, 'targetPort']), 'spec.ports[1].targetPort');
  assert.is(formatFieldPath(['metadata', 'labels', 'kubernetes.io/service-name']), 'metadata.labels["kubernetes.io/service-name"]');
  assert.is(formatFieldPath([]), '');
});

const kinds = suite('Objects: kinds, Lists, metadata, duplicates');

kinds('an unknown kind is a warning naming it, and the rest loads', () => {
  const model = load('apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: settings, namespace: ops}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}');
  assert.equal(model.diagnostics.map((d) => [d.severity, d.file, d.doc, d.line, d.kind, d.namespace, d.name]), [['warning', 'k.yaml', 0, 1, 'Widget', 'ops', 'settings']]);
  assert.match(model.diagnostics[0]!.message, /^unknown kind, ignored/);
  assert.ok(model.services.has('default/s'));
});

kinds('an unknown kind without a namespace is named without one (it may be cluster-scoped)', () => {
  const model = load('apiVersion: example.com/v1\nkind: ClusterWidget\nmetadata: {name: w}');
  assert.equal(model.diagnostics.map((d) => [d.kind, d.namespace, d.name]), [['ClusterWidget', undefined, 'w']]);
});

/** [kind, apiVersion, cluster-scoped] of kinds meshc knows it does not need */
const ignoredKinds: [string, string][] = [
  ['ServiceAccount', 'v1'], ['ConfigMap', 'v1'], ['Secret', 'v1'], ['PersistentVolumeClaim', 'v1'],
  ['Role', 'rbac.authorization.k8s.io/v1'], ['RoleBinding', 'rbac.authorization.k8s.io/v1'],
  ['ClusterRole', 'rbac.authorization.k8s.io/v1'], ['ClusterRoleBinding', 'rbac.authorization.k8s.io/v1'],
  ['Ingress', 'networking.k8s.io/v1'], ['PodDisruptionBudget', 'policy/v1'],
  ['HorizontalPodAutoscaler', 'autoscaling/v2'], ['Job', 'batch/v1'], ['CronJob', 'batch/v1'],
  ['CustomResourceDefinition', 'apiextensions.k8s.io/v1'], ['Gateway', 'gateway.networking.k8s.io/v1'],
];
kinds('kinds meshc does not need are skipped without a warning and counted, in Lists too', () => {
  const docs = ignoredKinds.map(([kind, apiVersion]) => `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: x}`);
  docs.push('apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: y}}\n- {apiVersion: v1, kind: Secret, metadata: {name: z}}');
  const model = load(docs.join('\n---\n'));
  assert.equal(model.diagnostics, []);
  assert.is(model.ignored.get('Secret'), 3);
  assert.equal([...model.ignored.keys()].sort(), ignoredKinds.map(([kind]) => kind).sort());
});

kinds('a Secret of another API group is not the core Secret: unknown', () => {
  const model = load('apiVersion: example.com/v1\nkind: Secret\nmetadata: {name: s}');
  assert.equal(model.ignored.size, 0);
  assert.match(model.diagnostics[0]!.message, /^unknown kind/);
});

/** [kind, apiVersion, what the warning says] of kinds that bear on routing but that meshc does not read */
const unreadKinds: [string, string, RegExp][] = [
  ['Endpoints', 'v1', /write an EndpointSlice/],
  ['DaemonSet', 'apps/v1', /makes up pods for Deployments, StatefulSets and ReplicaSets only/],
  ['GRPCRoute', 'gateway.networking.k8s.io/v1', /HTTPRoutes only: this route is not applied/],
  ['TCPRoute', 'gateway.networking.k8s.io/v1alpha2', /HTTPRoutes only/],
];
for (const [kind, apiVersion, message] of unreadKinds) {
  kinds(`${kind} is not read, and the warning says what to do`, () => {
    const model = load(`apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: x}`);
    assert.equal(model.diagnostics.map((d) => [d.severity, d.kind, d.name]), [['warning', kind, 'x']]);
    assert.match(model.diagnostics[0]!.message, message);
  });
}

kinds('a known kind with an unsupported apiVersion is ignored with a warning saying which one to use', () => {
  const model = load('apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: d}\nspec: {}');
  assert.equal(model.diagnostics.map((d) => [d.severity, d.kind, d.name]), [['warning', 'Deployment', 'd']]);
  assert.match(model.diagnostics[0]!.message, /unknown kind, ignored: apiVersion extensions\/v1beta1 is not supported for Deployment \(use apps\/v1\)/);
});

kinds('kind: List and typed lists load their items; a problem in an item points at its line', () => {
  const yaml = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec: {ports: [{port: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: b}
  spec:
    ports:
    - port: 99999
---
apiVersion: v1
kind: ServiceList
items:
- apiVersion: v1
  kind: Service
  metadata: {name: c}
  spec: {ports: [{port: 80}]}
`;
  const model = load(yaml);
  assert.equal([...model.services.keys()].sort(), ['default/a', 'default/c']);
  assert.equal(model.diagnostics.map((d) => [d.doc, d.line, d.kind, d.name, d.field]), [[0, 13, 'Service', 'b', 'spec.ports[0].port']]);
});

kinds('Namespace and Node are cluster-scoped; a Node\'s zone comes from topology.kubernetes.io/zone', () => {
  const model = load('apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, namespace: ignored}\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {topology.kubernetes.io/zone: eu-1a}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n2}');
  assert.is(model.namespaces.get('shop')!.namespace, '');
  assert.equal([...model.nodes.values()], [{ name: 'n1', zone: 'eu-1a' }, { name: 'n2' }]);
});

/** [description, yaml, field, message] */
const notObjects: [string, string, string | undefined, RegExp][] = [
  ['a scalar document', 'just text', undefined, /not a Kubernetes object/],
  ['a list document', '- a\n- b', undefined, /not a Kubernetes object/],
  ['no kind', 'apiVersion: v1\nmetadata: {name: x}', undefined, /apiVersion and kind are required/],
  ['kind not a string', 'apiVersion: v1\nkind: [Service]\nmetadata: {name: x}', 'kind', /must be a string/],
  ['no name', 'apiVersion: v1\nkind: Service\nmetadata: {}\nspec: {ports: [{port: 80}]}', 'metadata.name', /is required/],
  ['an upper-case name', 'apiVersion: v1\nkind: Pod\nmetadata: {name: Web}', 'metadata.name', /not a valid name/],
  ['a label value that is not a string', 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {tier: 1}}', 'metadata.labels.tier', /must be a string, got number 1/],
];
for (const [description, yaml, field, message] of notObjects) {
  kinds(`${description}: an error, nothing loaded`, () => {
    const model = load(`${yaml}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: fine}\nspec: {ports: [{port: 80}]}`);
    assert.equal(model.diagnostics.map((d) => [d.severity, d.file, d.doc, d.field]), [['error', 'k.yaml', 0, field]]);
    assert.match(model.diagnostics[0]!.message, message);
    assert.equal([...model.services.keys()], ['default/fine']);
    assert.is(model.pods.size, 0);
  });
}

kinds('the same kind/namespace/name twice: the later one is used, and the earlier one says so', () => {
  const yaml = [
    'apiVersion: v1\nkind: Service\nmetadata: {name: twice}\nspec: {ports: [{port: 80}]}',
    'apiVersion: v1\nkind: Service\nmetadata: {name: twice, namespace: other}\nspec: {ports: [{port: 80}]}',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: twice}',
    'apiVersion: v1\nkind: Service\nmetadata: {name: twice, namespace: default}\nspec: {ports: [{port: 8080}]}',
  ].join('\n---\n');
  const model = load(yaml);
  assert.equal(model.diagnostics.map((d) => [d.severity, d.doc, d.kind, d.namespace, d.name, d.field]), [['warning', 0, 'Service', 'default', 'twice', 'metadata.name']]);
  assert.match(model.diagnostics[0]!.message, /^Service is defined again at k.yaml:15 \(doc 4\): that later one is used, as kubectl apply in this order would/);
  assert.is(model.services.get('default/twice')!.ports[0]!.port, 8080);
  assert.ok(model.services.has('other/twice') && model.pods.has('default/twice'));
});

kinds('three times: the last one is used; each earlier one names the one after it', () => {
  const service = (port: number) => `apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: ${port}}]}`;
  const model = load([service(1), service(2), service(3)].join('\n---\n'));
  assert.is(model.services.get('default/s')!.ports[0]!.port, 3);
  assert.equal(model.diagnostics.map((d) => d.doc), [0, 1]);
  assert.match(model.diagnostics[0]!.message, /\(doc 2\)/);
  assert.match(model.diagnostics[1]!.message, /\(doc 3\)/);
});

kinds('an HTTPRoute in v1 and in v1beta1 with the same name is a duplicate', () => {
  const route = (version: string) => `apiVersion: gateway.networking.k8s.io/${version}\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {parentRefs: [{name: gw}]}`;
  const model = load([route('v1'), route('v1beta1')].join('\n---\n'));
  assert.is(model.routes.length, 1);
  assert.is(model.routes[0]!.apiVersion, 'gateway.networking.k8s.io/v1beta1');
  const duplicates = model.diagnostics.filter((d) => d.message.includes('defined again'));
  assert.equal(duplicates.map((d) => [d.doc, d.kind, d.name]), [[0, 'HTTPRoute', 'r']]);
});

kinds('a YAML syntax error is one diagnostic with file, doc and line; the other documents load', () => {
  const model = load('apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n---\nkind: Service\nspec: [oops\n');
  assert.equal(model.diagnostics.map((d) => [d.severity, d.file, d.doc, d.kind]), [['error', 'k.yaml', 1, undefined]]);
  assert.ok(model.diagnostics[0]!.line! >= 6);
  assert.match(model.diagnostics[0]!.message, /^YAML syntax error: /);
  assert.ok(model.services.has('default/a'));
});

kinds('diagnostics come out in document order', () => {
  const model = load('apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 0}]}\n---\nkind: [\n---\napiVersion: v1\nkind: Thing\nmetadata: {name: t}');
  assert.equal(model.diagnostics.map((d) => d.doc), [0, 1, 2]);
});

format.run();
kinds.run();
