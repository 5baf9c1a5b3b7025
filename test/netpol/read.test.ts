// Reading NetworkPolicy and CiliumNetworkPolicy: bad input is one located error naming the
// object and the field, and the policy is left out; what meshc does not enforce is a warning.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { formatDiagnostic } from '../../src/model/diagnostics.ts';

const test = suite('netpol read');

function load(text: string) {
  const model = buildModel(parseManifests(text, 'np.yaml'), { synthesize: false });
  return { model, messages: model.diagnostics.map(formatDiagnostic) };
}

function np(spec: string): string {
  return `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n${spec.replace(/^/gm, '  ')}`;
}

const bad: [string, string, RegExp][] = [
  ['podSelector missing', np('policyTypes: [Ingress]'), /np\.yaml:5 \(doc 1\) NetworkPolicy x\/p: spec\.podSelector: is required/],
  ['unknown policy type', np('podSelector: {}\npolicyTypes: [Inbound]'), /np\.yaml:6 .*spec\.policyTypes\[0\]: string "Inbound" is not one of Ingress, Egress/],
  ['ipBlock with a selector', np('podSelector: {}\ningress:\n- from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]'), /spec\.ingress\[0\]\.from\[0\]\.ipBlock: may not be combined with podSelector/],
  ['an empty peer', np('podSelector: {}\ningress:\n- from: [{}]'), /spec\.ingress\[0\]\.from\[0\]: must set podSelector, namespaceSelector or ipBlock/],
  ['a bad CIDR', np('podSelector: {}\negress:\n- to: [{ipBlock: {cidr: 10.0.0.0/33}}]'), /spec\.egress\[0\]\.to\[0\]\.ipBlock\.cidr: "10\.0\.0\.0\/33" is not a valid CIDR/],
  ['except outside the cidr', np('podSelector: {}\negress:\n- to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]'), /ipBlock\.except\[0\]: 10\.1\.0\.0\/24 is not a strict subset of cidr 10\.0\.0\.0\/16/],
  ['endPort with a named port', np('podSelector: {}\ningress:\n- ports: [{port: http, endPort: 90}]'), /spec\.ingress\[0\]\.ports\[0\]\.endPort: may only be set with a numeric port/],
  ['endPort below port', np('podSelector: {}\ningress:\n- ports: [{port: 90, endPort: 80}]'), /endPort: 80 is less than port 90/],
  ['a bad protocol', np('podSelector: {}\ningress:\n- ports: [{port: 80, protocol: ICMP}]'), /ports\[0\]\.protocol: "ICMP" is not one of TCP, UDP, SCTP/],
  ['a bad port name', np('podSelector: {}\ningress:\n- ports: [{port: Not_A_Name}]'), /ports\[0\]\.port: "Not_A_Name" is neither a port number nor a container port name/],
  ['a bad selector operator', np('podSelector: {matchExpressions: [{key: a, operator: Has}]}'), /spec\.podSelector\.matchExpressions\[0\]\.operator: "Has" is not one of In, NotIn, Exists, DoesNotExist/],
  ['In without values', np('podSelector: {matchExpressions: [{key: a, operator: In}]}'), /matchExpressions\[0\]\.values: must not be empty for operator In/],
];

for (const [name, text, expected] of bad) {
  test(`${name}: a located error, the policy left out`, () => {
    const { model, messages } = load(text);
    assert.equal(model.networkPolicies, []);
    assert.ok(messages.some((m) => expected.test(m) && !m.includes('warning:')), `${expected} in ${JSON.stringify(messages)}`);
  });
}

test('host bits in a CIDR are a warning and are cleared', () => {
  const { model, messages } = load(np('podSelector: {}\negress:\n- to: [{ipBlock: {cidr: 10.0.0.7/24}}]'));
  assert.equal(model.networkPolicies![0]!.egress![0]!.peers, [{ kind: 'cidr', cidr: '10.0.0.0/24', except: [] }]);
  assert.match(messages.join('\n'), /warning: NetworkPolicy x\/p: spec\.egress\[0\]\.to\[0\]\.ipBlock\.cidr: 10\.0\.0\.7\/24 has host bits set: read as 10\.0\.0\.0\/24/);
});

test('the seed CiliumNetworkPolicy: read, and authentication.mode required reported as not enforced, located', () => {
  const { model, messages } = load(`apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "api-mtls-enforcement"
spec:
  endpointSelector:
    matchLabels:
      app: product-api
  ingress:
  - fromEndpoints:
    - matchLabels:
        app: client-app
    toPorts:
    - ports:
      - port: "8080"
        protocol: TCP
    authentication:
      mode: "required" # Enforce mTLS
`);
  const policy = model.networkPolicies![0]!;
  assert.is(policy.kind, 'CiliumNetworkPolicy');
  assert.equal(policy.podSelector.matchLabels, { app: 'product-api' });
  assert.equal(policy.ingress, [{ peers: [{ kind: 'pods', pods: { matchLabels: { app: 'client-app' }, matchExpressions: [] } }], ports: [{ protocol: 'TCP', port: 8080 }], authentication: 'required' }]);
  assert.is(policy.egress, undefined);
  assert.equal(messages, ['np.yaml:18 (doc 1) warning: CiliumNetworkPolicy default/api-mtls-enforcement: spec.ingress[0].authentication.mode: required is enforced only through the node tunnel, by a meshc agent with workload identities and --tunnel (docs/tunnel.md): without them meshc applies this rule without authenticating the peer']);
});

test('Cilium peers meshc does not read: a warning, and the rule allows nothing (fail closed)', () => {
  const { model, messages } = load(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: e, namespace: x}
spec:
  endpointSelector: {}
  ingress:
  - fromEntities: [world]`);
  assert.equal(model.networkPolicies![0]!.ingress, [{ peers: [], ports: 'all' }]);
  assert.match(messages.join('\n'), /np\.yaml:7 \(doc 1\) warning: CiliumNetworkPolicy x\/e: spec\.ingress\[0\]\.fromEntities: is not applied by meshc/);
});

test('NetworkPolicy and CiliumNetworkPolicy are no longer counted as ignored', () => {
  const { model } = load(np('podSelector: {}'));
  assert.is(model.ignored.size, 0);
  assert.is(model.networkPolicies!.length, 1);
});

test.run();
