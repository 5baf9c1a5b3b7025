// Decisions are attributed to the Service (or backendRef) that made them, even when another
// Service has exactly the same endpoints (issue 12, item 1).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import type { PolicyInstance } from '../../src/wasm/instance.ts';
import { simulate, type SimulateInput } from '../../src/sim/simulate.ts';
import { countsByService } from '../../src/policy-tests/evaluate.ts';

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web, ports: [{containerPort: 8080}]}]}
`;

function service(name: string): string {
  return `---
apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
`;
}

function route(parent: string, backends: [string, number][]): string {
  const refs = backends.map(([name, weight]) => `{name: ${name}, port: 80, weight: ${weight}}`).join(', ');
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: to-${parent}}
spec:
  parentRefs: [{group: "", kind: Service, name: ${parent}, port: 80}]
  rules: [{backendRefs: [${refs}]}]
`;
}

interface Case {
  name: string;
  manifests: string;
  to: SimulateInput['to'];
  /** Share per Service of the connections, exactly (0 means the Service gets no row at all). */
  shares: Record<string, number>;
}

const cases: Case[] = [
  {
    name: 'two Services selecting the same pods: --to a is a, --to b is b',
    manifests: deployment + service('a') + service('b'),
    to: { name: 'a', port: 80 },
    shares: { 'default/a': 1 },
  },
  {
    name: 'the same, dialling the second one',
    manifests: deployment + service('a') + service('b'),
    to: { name: 'b', port: 80 },
    shares: { 'default/b': 1 },
  },
  {
    name: "a route whose backendRef has its parent's endpoints: the backendRef's Service",
    manifests: deployment + service('front') + service('back') + route('front', [['back', 1]]),
    to: { name: 'front', port: 80 },
    shares: { 'default/back': 1 },
  },
  {
    name: 'a split between the parent and a twin of it: each gets its weight',
    manifests: deployment + service('zeta') + service('alpha') + route('zeta', [['zeta', 1], ['alpha', 3]]),
    to: { name: 'zeta', port: 80 },
    shares: { 'default/zeta': 0.25, 'default/alpha': 0.75 },
  },
];

let instance: PolicyInstance;
const test = suite('attribution of decisions');
test.before(async () => {
  instance = await loadPolicyWasm();
});

for (const c of cases) {
  test(c.name, () => {
    const model = buildModel(parseManifests(c.manifests, 'case.yaml'));
    assert.equal(model.diagnostics, []);
    const result = simulate(model, instance, { to: c.to, connections: 4000, seed: 7 });
    const services = new Set(result.backends.map((b) => b.service));
    assert.equal([...services].sort(), Object.keys(c.shares).sort(), 'only the deciding Services have rows');
    const counts = new Map(countsByService(result));
    for (const [svc, share] of Object.entries(c.shares)) {
      const got = (counts.get(svc) ?? 0) / result.connections;
      assert.ok(Math.abs(got - share) < 0.03, `${svc}: ${got} (expected ${share})`);
    }
  });
}

test.run();
