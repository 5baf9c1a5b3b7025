// Issue 12 item 3: what meshc reads past in an HTTPRoute (filters, timeouts, sessionPersistence,
// retry, hostnames, parents outside the mesh) is reported at its field, never dropped in silence.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { normalizeHTTPRoute } from '../../src/model/httproute.ts';
import { FILTER_SUPPORT, notAppliedText } from '../../src/model/support.ts';
import type { Diagnostic } from '../../src/model/types.ts';

const meshParent = { group: '', kind: 'Service', name: 'api', port: 80 };
const backend = { name: 'api-v1', port: 80 };

function reports(spec: object): [string, string | undefined, string][] {
  const diagnostics: Diagnostic[] = [];
  const route = normalizeHTTPRoute(
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'shop' }, spec },
    { file: 'r.yaml', doc: 0 },
    diagnostics,
  );
  assert.ok(route, 'the route loads');
  return diagnostics.map((d) => [d.severity, d.field, d.message]);
}

/** [description, spec, expected [severity, field, message pattern] per diagnostic] */
const cases: [string, object, [string, string, RegExp][]][] = [
  ['a plain mesh route: nothing to report', { parentRefs: [meshParent], rules: [{ backendRefs: [backend] }] }, []],
  ['no parentRefs: not in the mesh', { rules: [{ backendRefs: [backend] }] }, [['warning', 'spec.parentRefs', /no parentRefs, so it is not in the mesh/]]],
  [
    'a Gateway parent only: not in the mesh, and its filters are not reported one by one',
    { parentRefs: [{ name: 'gw' }], rules: [{ filters: [{ type: 'URLRewrite', urlRewrite: {} }], backendRefs: [backend] }] },
    [['warning', 'spec.parentRefs[0]', /^Gateway shop\/gw is not in the mesh: .* the route is not applied/]],
  ],
  [
    'a Gateway and a Service parent: the Gateway parent is left out',
    { parentRefs: [{ name: 'gw', namespace: 'infra' }, meshParent], rules: [{ backendRefs: [backend] }] },
    [['warning', 'spec.parentRefs[0]', /^Gateway infra\/gw is not in the mesh: .*this parent is left out/]],
  ],
  [
    'another kind of parent (ServiceImport) is named with its group',
    { parentRefs: [{ group: 'multicluster.x-k8s.io', kind: 'ServiceImport', name: 'api' }] },
    [['warning', 'spec.parentRefs[0]', /^ServiceImport\.multicluster\.x-k8s\.io shop\/api is not in the mesh/]],
  ],
  [
    'rule filters and backendRef filters: only what a path does not apply is reported, at its field',
    {
      parentRefs: [meshParent],
      rules: [{
        filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x', value: '1' }] } }, { type: 'CORS' }],
        backendRefs: [{ ...backend, filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['y'] } }] }],
      }],
    },
    // Header edits are applied by simulate and by the node proxy; CORS by neither.
    [['warning', 'spec.rules[0].filters[1]', /^CORS is not applied: neither simulate nor the agent/]],
  ],
  [
    'timeouts, sessionPersistence and retry',
    { parentRefs: [meshParent], rules: [{ backendRefs: [backend], timeouts: { request: '10s' }, sessionPersistence: { sessionName: 's' }, retry: { attempts: 2 } }] },
    [
      ['warning', 'spec.rules[0].timeouts', /is not applied/],
      ['warning', 'spec.rules[0].sessionPersistence', /is not applied/],
      ['warning', 'spec.rules[0].retry', /is not applied/],
    ],
  ],
  [
    'a filter a backendRef cannot carry is one error, not two reports',
    { parentRefs: [meshParent], rules: [{ backendRefs: [{ ...backend, filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 301 } }] }] }] },
    [['error', 'spec.rules[0].backendRefs[0].filters[0].type', /RequestRedirect on a backendRef is not applied/]],
  ],
  ['hostnames on a mesh route are ignored, and said so', { parentRefs: [meshParent], hostnames: ['api.example.com'] }, [['warning', 'spec.hostnames', /is ignored: mesh routes match on the Service/]]],
  [
    'a filter type the Gateway API does not have is an error at its type',
    { parentRefs: [meshParent], rules: [{ filters: [{ type: 'Teleport' }], backendRefs: [backend] }] },
    [['error', 'spec.rules[0].filters[0].type', /"Teleport" is not a Gateway API filter type/]],
  ],
];

const test = suite('HTTPRoute: what meshc does not apply is reported, located');
for (const [description, spec, expected] of cases) {
  test(description, () => {
    const got = reports(spec);
    assert.is(got.length, expected.length, JSON.stringify(got));
    expected.forEach(([severity, field, pattern], i) => {
      assert.is(got[i]![0], severity);
      assert.is(got[i]![1], field);
      assert.match(got[i]![2], pattern);
    });
  });
}

test('the message says which path does not apply it', () => {
  assert.match(notAppliedText({ simulate: false, live: false })!, /neither simulate nor the agent/);
  assert.match(notAppliedText({ simulate: true, live: false })!, /not applied live/);
  assert.match(notAppliedText({ simulate: false, live: true })!, /not applied by simulate/);
  assert.is(notAppliedText({ simulate: true, live: true }), undefined);
  // The filters meshc reads need their field (the CRD requires it); the others are read past.
  const body: Record<string, object> = {
    RequestHeaderModifier: { requestHeaderModifier: {} }, ResponseHeaderModifier: { responseHeaderModifier: {} },
    RequestRedirect: { requestRedirect: {} }, URLRewrite: { urlRewrite: {} }, RequestMirror: { requestMirror: { backendRef: backend } },
  };
  for (const type of Object.keys(FILTER_SUPPORT)) {
    const got = reports({ parentRefs: [meshParent], rules: [{ filters: [{ type, ...body[type] }], backendRefs: [backend] }] });
    const text = notAppliedText(FILTER_SUPPORT[type]);
    assert.equal(got, text ? [['warning', 'spec.rules[0].filters[0]', `${type} ${text}`]] : [], type);
  }
});

test.run();
