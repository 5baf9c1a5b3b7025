// Issue 12 item 2: ReferenceGrants are read (located diagnostics) and govern cross-namespace
// backendRefs of Gateway-bound routes (semantics.md fact 27). A mesh route (Service parent) needs
// none (fact 32, GEP-1294 "Namespace boundaries"), so its cross-namespace backendRef is used.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../../src/model/build.ts';
import { collectObjects } from '../../src/model/objects.ts';
import { readReferenceGrant } from '../../src/model/reference-grant.ts';
import { readReferenceGrant as readGrantL7 } from '../../src/l7/reference-grant.ts';
import type { Diagnostic, Model } from '../../src/model/types.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { servedLines, simulate } from '../../src/sim/simulate.ts';
import { countsByService } from '../../src/policy-tests/evaluate.ts';

type Obj = Record<string, unknown>;

const backendService: Obj = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'back' }, spec: { ports: [{ port: 8080 }] } };
const parentService: Obj = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'front', namespace: 'app' }, spec: { ports: [{ port: 80 }] } };
const meshParent = { group: '', kind: 'Service', name: 'front', port: 80 };
const gatewayParent = { name: 'gw', namespace: 'infra' };

function route(parentRefs: object[]): Obj {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'app' },
    spec: { parentRefs, rules: [{ backendRefs: [{ name: 'web', namespace: 'back', port: 8080 }] }] },
  };
}

const rightGrant = {
  from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'app' }],
  to: [{ group: '', kind: 'Service' }],
};

function grant(spec: object, namespace = 'back'): Obj {
  return { apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'g', namespace }, spec };
}

function build(objects: Obj[]): Model {
  return buildModel(objects.map((object, doc) => ({ file: 'm.yaml', doc, object })), { synthesize: false });
}

const grantSpecs = suite('ReferenceGrant: which grants let a Gateway-bound route refer across namespaces (fact 27)');

/** [description, grant objects, backendRef used] */
const grantCases: [string, Obj[], boolean][] = [
  ['no grant: RefNotPermitted', [], false],
  ['a grant for every Service of the namespace', [grant(rightGrant)], true],
  ['a grant naming the Service', [grant({ ...rightGrant, to: [{ group: '', kind: 'Service', name: 'web' }] })], true],
  ['a grant naming another Service', [grant({ ...rightGrant, to: [{ group: '', kind: 'Service', name: 'other' }] })], false],
  ['a grant in the route\'s namespace instead of the backend\'s', [grant(rightGrant, 'app')], false],
  ['from another namespace', [grant({ ...rightGrant, from: [{ ...rightGrant.from[0], namespace: 'elsewhere' }] })], false],
  ['from another kind (GRPCRoute)', [grant({ ...rightGrant, from: [{ ...rightGrant.from[0], kind: 'GRPCRoute' }] })], false],
  ['from another group', [grant({ ...rightGrant, from: [{ ...rightGrant.from[0], group: 'example.com' }] })], false],
  ['to another kind (Secret)', [grant({ ...rightGrant, to: [{ group: '', kind: 'Secret' }] })], false],
  ['to another group', [grant({ ...rightGrant, to: [{ group: 'apps', kind: 'Service' }] })], false],
  ['one of several entries matches', [grant({ from: [{ group: 'x', kind: 'y', namespace: 'z' }, ...rightGrant.from], to: [{ group: '', kind: 'Secret' }, ...rightGrant.to] })], true],
];
for (const [description, grants, used] of grantCases) {
  grantSpecs(description, () => {
    const model = build([backendService, route([gatewayParent]), ...grants]);
    const ref = model.routes[0]!.rules[0]!.backendRefs[0]!;
    const refused = model.diagnostics.filter((d) => /RefNotPermitted/.test(d.message));
    if (used) {
      assert.is(ref.invalid, undefined);
      assert.equal(refused, []);
    } else {
      assert.is(ref.invalid, 'RefNotPermitted');
      assert.equal(refused.map((d) => [d.severity, d.kind, d.field]), [['warning', 'HTTPRoute', 'spec.rules[0].backendRefs[0]']]);
      assert.match(refused[0]!.message, /no ReferenceGrant in namespace back lets HTTPRoutes from app refer to Service web: ResolvedRefs is False/);
    }
  });
}

const mesh = suite('ReferenceGrant: mesh routes need none (fact 32, GEP-1294)');

mesh('a mesh route\'s cross-namespace backendRef is used without a grant', () => {
  const model = build([parentService, backendService, route([meshParent])]);
  assert.equal(model.diagnostics, []);
  assert.is(model.routes[0]!.rules[0]!.backendRefs[0]!.invalid, undefined);
});

mesh('a route with a Service and a Gateway parent: used by the mesh, reported for the Gateway', () => {
  const model = build([parentService, backendService, route([meshParent, gatewayParent])]);
  assert.is(model.routes[0]!.rules[0]!.backendRefs[0]!.invalid, undefined);
  const refused = model.diagnostics.filter((d) => /RefNotPermitted/.test(d.message));
  assert.is(refused.length, 1);
  assert.match(refused[0]!.message, /for the route's Gateway parents ResolvedRefs is False .* Service parents \(the mesh\) need no grant/);
  const withGrant = build([parentService, backendService, route([meshParent, gatewayParent]), grant(rightGrant)]);
  assert.equal(withGrant.diagnostics.filter((d) => /RefNotPermitted/.test(d.message)), []);
});

mesh('a same-namespace backendRef never needs a grant', () => {
  const local = { ...route([gatewayParent]), spec: { parentRefs: [gatewayParent], rules: [{ backendRefs: [{ name: 'front', port: 80 }] }] } };
  const model = build([parentService, local]);
  assert.is(model.routes[0]!.rules[0]!.backendRefs[0]!.invalid, undefined);
  assert.equal(model.diagnostics.filter((d) => /RefNotPermitted/.test(d.message)), []);
});

const simulated = suite('ReferenceGrant: what simulate does with a mesh route\'s cross-namespace backendRef');

const backendPod: Obj = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'w', namespace: 'back', labels: { app: 'web' } }, spec: {}, status: { podIP: '10.244.1.5' } };
const parentPod: Obj = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'f', namespace: 'app', labels: { app: 'front' } }, spec: {}, status: { podIP: '10.244.1.6' } };
const withSelector = (svc: Obj, app: string): Obj => ({ ...svc, spec: { ...(svc.spec as Obj), selector: { app } } });
function splitRoute(parentRefs: object[]): Obj {
  return {
    ...route(parentRefs),
    spec: { parentRefs, rules: [{ backendRefs: [{ name: 'web', namespace: 'back', port: 8080, weight: 1 }, { name: 'front', port: 80, weight: 1 }] }] },
  };
}

/** [description, extra objects, parentRefs, RefNotPermitted reports] */
const simulatedCases: [string, Obj[], object[], number][] = [
  ['no grant: used, and simulate says why no grant is needed', [], [meshParent], 0],
  ['with a grant: used alike', [grant(rightGrant)], [meshParent], 0],
  ['a Gateway parent too, no grant: used by the mesh, refused for the Gateway (reported)', [], [meshParent, gatewayParent], 1],
];
for (const [description, extra, parentRefs, reports] of simulatedCases) {
  simulated(description, async () => {
    const model = buildModel([withSelector(parentService, 'front'), withSelector(backendService, 'web'), backendPod, parentPod, splitRoute(parentRefs), ...extra]
      .map((object, doc) => ({ file: 'm.yaml', doc, object })));
    assert.is(model.diagnostics.filter((d) => /RefNotPermitted/.test(d.message)).length, reports);
    const result = simulate(model, await loadPolicyWasm(), { to: { name: 'front', namespace: 'app', port: 80 }, connections: 2000, seed: 3 });
    assert.is(result.refused, 0);
    const counts = new Map(countsByService(result));
    for (const svc of ['back/web', 'app/front']) {
      const share = (counts.get(svc) ?? 0) / result.connections;
      assert.ok(Math.abs(share - 0.5) < 0.05, `${svc}: ${share}`);
    }
    assert.equal(result.crossNamespace, [
      'backendRef back/web is in another namespace than HTTPRoute app/r: a mesh route needs no ReferenceGrant to use it (GEP-1294, Namespace boundaries); grants govern Gateway-bound routes',
    ]);
    assert.ok(servedLines(result).includes(result.crossNamespace![0]!), 'simulate and the playground print it');
  });
}

const reading = suite('ReferenceGrant: bad grants are located diagnostics; the others load');

/** [description, spec, field of the one error] */
const badGrants: [string, object, string][] = [
  ['no from', { to: rightGrant.to }, 'spec.from'],
  ['empty to', { from: rightGrant.from, to: [] }, 'spec.to'],
  ['from without namespace', { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }], to: rightGrant.to }, 'spec.from[0].namespace'],
  ['to without group', { from: rightGrant.from, to: [{ kind: 'Service' }] }, 'spec.to[0].group'],
  ['to kind empty', { from: rightGrant.from, to: [{ group: '', kind: '' }] }, 'spec.to[0].kind'],
  ['a name that is not a string', { from: rightGrant.from, to: [{ group: '', kind: 'Service', name: 7 }] }, 'spec.to[0].name'],
  ['17 from entries', { from: Array.from({ length: 17 }, () => rightGrant.from[0]), to: rightGrant.to }, 'spec.from'],
];
for (const [description, spec, field] of badGrants) {
  reading(description, () => {
    const model = build([backendService, route([gatewayParent]), grant(spec), { ...grant(rightGrant), metadata: { name: 'good', namespace: 'back' } }]);
    const errors = model.diagnostics.filter((d) => d.severity === 'error');
    assert.equal(errors.map((d) => [d.kind, d.namespace, d.name, d.field]), [['ReferenceGrant', 'back', 'g', field]]);
    assert.is(model.routes[0]!.rules[0]!.backendRefs[0]!.invalid, undefined, 'the good grant still applies');
  });
}

reading('the conformance cases\' grants read the same as the L7 replay reads them', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const dir = process.env.MESHC_CONFORMANCE_DIR ?? path.join(root, '..', 'shared', 'conformance', 'gateway-api');
  const cases: { name: string; reference_grants?: Obj[] }[] = JSON.parse(readFileSync(path.join(dir, 'cases.json'), 'utf8'));
  let count = 0;
  for (const c of cases) {
    for (const object of c.reference_grants ?? []) {
      const diagnostics: Diagnostic[] = [];
      const [collected] = collectObjects([{ file: c.name, doc: 0, object }], diagnostics);
      assert.ok(collected, `${c.name}: ${JSON.stringify(diagnostics)}`);
      assert.equal(readReferenceGrant(collected!), readGrantL7(object), c.name);
      assert.equal(diagnostics, []);
      count++;
    }
  }
  assert.ok(count >= 10, `${count} grants`);
});

grantSpecs.run();
mesh.run();
simulated.run();
reading.run();
