// The agent's tunnel plan from the model: which pods require authentication (a
// CiliumNetworkPolicy ingress rule with authentication.mode: required selecting them), by which
// identities (the ServiceAccounts of the pods its fromEndpoints select), and the tunnel
// configuration each node's agent writes from it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { planTunnel, tunnelConfig } from '../../src/agent/tunnel.ts';
import { trimPod } from '../../src/kube/source.ts';

const TD = 'cluster.local';
const id = (sa: string, ns = 'default') => `spiffe://${TD}/ns/${ns}/sa/${sa}`;

function pod(name: string, ns: string, labels: string, sa: string | undefined, node: string, ip: string, uid: string): string {
  return `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, uid: ${uid}, labels: {${labels}}}
spec: {nodeName: ${node}${sa ? `, serviceAccountName: ${sa}` : ''}, containers: [{name: c, image: x}]}
status: {podIP: ${ip}, phase: Running}
`;
}

const MANIFESTS = `
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.168.1.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
status: {addresses: [{type: InternalIP, address: 192.168.1.2}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {team: b}}
${pod('api-1', 'default', 'app: api', 'api', 'n2', '10.0.2.10', '00000000-0000-0000-0000-000000000001')}
${pod('api-2', 'default', 'app: api', 'api', 'n1', '10.0.1.11', '00000000-0000-0000-0000-000000000002')}
${pod('web-1', 'default', 'app: web', 'web', 'n1', '10.0.1.10', '00000000-0000-0000-0000-000000000003')}
${pod('batch', 'default', 'app: batch', undefined, 'n1', '10.0.1.12', '00000000-0000-0000-0000-000000000004')}
${pod('far', 'other', 'app: web', 'remote', 'n2', '10.0.2.11', '00000000-0000-0000-0000-000000000005')}
${pod('plain', 'default', 'app: plain', 'plain', 'n2', '10.0.2.12', '00000000-0000-0000-0000-000000000006')}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-mtls, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: web}
    - matchLabels: {k8s:io.kubernetes.pod.namespace: other, app: web}
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
    authentication: {mode: required}
  - fromEndpoints:
    - matchLabels: {app: batch}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: plain-open, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: plain}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
`;

test('pods selected by a policy with an authenticated rule require it, allowed: the ServiceAccounts its rules\' peers select; plain-open requires nothing', () => {
  const model = buildModel(parseManifests(MANIFESTS, 'plan.yaml'), { synthesize: false });
  assert.is(model.pods.get('default/batch')?.serviceAccount, 'default');
  const plan = planTunnel(model, TD);
  assert.equal([...plan.required.keys()].sort(), ['10.0.1.11', '10.0.2.10']);
  const api1 = plan.required.get('10.0.2.10')!;
  assert.is(api1.identity, id('api'));
  // web in default and web in namespace other, and batch (ServiceAccount default): its rule of the
  // same policy does not require authentication, but through the tunnel it comes authenticated.
  assert.equal(api1.allowed, [id('default'), id('web'), id('remote', 'other')]);
  assert.equal(api1.policies, ['CiliumNetworkPolicy default/api-mtls']);
  assert.is(api1.nodeName, 'n2');
  assert.equal(plan.notes, []);

  const { config: c1, notes } = tunnelConfig(model, plan, { node: 'n1', trustDomain: TD, nodeAddr: '192.168.1.1', pin: '/p', cgroups: new Map([['00000000-0000-0000-0000-000000000003', [101n, 102n]], ['00000000-0000-0000-0000-000000000004', [103n]]]) });
  assert.equal(notes, []);
  assert.equal(c1.sources, { 101: { identity: id('web'), addr: '10.0.1.10' }, 102: { identity: id('web'), addr: '10.0.1.10' }, 103: { identity: id('default'), addr: '10.0.1.12' } });
  assert.equal(c1.destinations, {
    '10.0.2.10': { identity: id('api'), node: { addr: '192.168.1.2', port: 15008 } },
    '10.0.1.11': { identity: id('api'), node: { addr: '192.168.1.1', port: 15008 } },
  });
  assert.equal(c1.local, { '10.0.1.11': { identity: id('api'), allowed: [id('default'), id('web'), id('remote', 'other')] } });
  assert.equal(c1.outbound, { addr: '192.168.1.1', port: 15001 });
  const { config: c2 } = tunnelConfig(model, plan, { node: 'n2', trustDomain: TD, nodeAddr: '192.168.1.2', pin: '/p', cgroups: new Map() });
  assert.equal(Object.keys(c2.local as object), ['10.0.2.10']);
});

test('a destination on a node without a known address is noted (its connections are refused)', () => {
  const model = buildModel(parseManifests(MANIFESTS.replace('status: {addresses: [{type: InternalIP, address: 192.168.1.2}]}', ''), 'plan.yaml'), { synthesize: false });
  const plan = planTunnel(model, TD);
  const { config, notes } = tunnelConfig(model, plan, { node: 'n1', trustDomain: TD, nodeAddr: '192.168.1.1', pin: '/p', cgroups: new Map() });
  assert.equal(Object.keys(config.destinations as object), ['10.0.1.11']);
  assert.equal(notes, ['pod default/api-1 (10.0.2.10) requires authentication but its node n2 has no known InternalIP: connections to it are refused']);
});

test('the API server source keeps what the plan needs of a Pod: its ServiceAccount and hostNetwork', () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'default' }, spec: { nodeName: 'n1', serviceAccountName: 'api', hostNetwork: true, volumes: [{ name: 'v' }], containers: [{ name: 'c', image: 'x' }] } };
  trimPod(pod);
  assert.equal(pod.spec, { containers: [{ name: 'c' }], nodeName: 'n1', serviceAccountName: 'api', hostNetwork: true } as unknown);
});

test.run();
