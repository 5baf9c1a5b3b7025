import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { normalizeHTTPRoute, resolveRouteReferences, pathValueProblem } from '../../src/model/httproute.ts';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import type { Diagnostic, HTTPRoute, Service } from '../../src/model/types.ts';

function route(spec: object, metadata: object = {}, apiVersion = 'gateway.networking.k8s.io/v1'): object {
  return { apiVersion, kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'shop', ...metadata }, spec };
}

function normalize(obj: object): { route: HTTPRoute | undefined; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  return { route: normalizeHTTPRoute(obj, { file: 'routes.yaml', doc: 0 }, diagnostics), diagnostics };
}

const service = { parentRefs: [{ group: '', kind: 'Service', name: 'api', port: 80 }] };
const backend = (extra: object = {}) => ({ name: 'api-v1', port: 80, ...extra });

const defaults = suite('HTTPRoute: CRD defaults');

const prefixSlash = { type: 'PathPrefix', value: '/' };

defaults('no rules: one rule matching everything, with no backends (fact 4)', () => {
  const { route: r, diagnostics } = normalize(route(service));
  assert.equal(diagnostics, []);
  assert.equal(r!.rules, [{ matches: [{ path: prefixSlash, headers: [], queryParams: [] }], backendRefs: [], filters: [] }]);
});

/** [description, rule as written, expected normalized matches] */
const matchCases: [string, object, object[]][] = [
  ['no matches: PathPrefix "/"', { backendRefs: [backend()] }, [{ path: prefixSlash, headers: [], queryParams: [] }]],
  ['empty matches list: PathPrefix "/"', { matches: [], backendRefs: [backend()] }, [{ path: prefixSlash, headers: [], queryParams: [] }]],
  ['a match with only headers gets path PathPrefix "/" and header type Exact (facts 5, 6)', { matches: [{ headers: [{ name: 'X-Canary-User', value: 'true' }] }] }, [{ path: prefixSlash, headers: [{ type: 'Exact', name: 'X-Canary-User', value: 'true' }], queryParams: [] }]],
  ['path without type: PathPrefix', { matches: [{ path: { value: '/v2' } }] }, [{ path: { type: 'PathPrefix', value: '/v2' }, headers: [], queryParams: [] }]],
  ['path without value: "/"', { matches: [{ path: { type: 'Exact' } }] }, [{ path: { type: 'Exact', value: '/' }, headers: [], queryParams: [] }]],
  ['query parameter type Exact by default; method kept', { matches: [{ queryParams: [{ name: 'animal', value: 'whale' }], method: 'POST' }] }, [{ path: prefixSlash, headers: [], queryParams: [{ type: 'Exact', name: 'animal', value: 'whale' }], method: 'POST' }]],
  ['RegularExpression kept with its value', { matches: [{ path: { type: 'RegularExpression', value: '/v[0-9]+/.*' }, headers: [{ type: 'RegularExpression', name: 'x', value: 'a|b' }] }] }, [{ path: { type: 'RegularExpression', value: '/v[0-9]+/.*' }, headers: [{ type: 'RegularExpression', name: 'x', value: 'a|b' }], queryParams: [] }]],
  ['matches are kept in order', { matches: [{ path: { type: 'Exact', value: '/a' } }, { path: { value: '/b' } }] }, [{ path: { type: 'Exact', value: '/a' }, headers: [], queryParams: [] }, { path: { type: 'PathPrefix', value: '/b' }, headers: [], queryParams: [] }]],
];
for (const [description, rule, matches] of matchCases) {
  defaults(description, () => {
    const { route: r, diagnostics } = normalize(route({ ...service, rules: [rule] }));
    assert.equal(diagnostics, []);
    assert.equal(r!.rules[0]!.matches, matches);
  });
}

defaults('backendRef defaults: group "", kind Service, the route\'s namespace, weight 1 (fact 6)', () => {
  const { route: r } = normalize(route({ ...service, rules: [{ backendRefs: [backend(), { name: 'other', namespace: 'x', port: 8080, weight: 0 }] }] }));
  assert.equal(r!.rules[0]!.backendRefs, [
    { group: '', kind: 'Service', namespace: 'shop', name: 'api-v1', port: 80, weight: 1 },
    { group: '', kind: 'Service', namespace: 'x', name: 'other', port: 8080, weight: 0 },
  ]);
});

defaults('parentRef defaults: group gateway.networking.k8s.io, kind Gateway, the route\'s namespace; a Service parent is kept with port and sectionName', () => {
  const { route: r } = normalize(route({ parentRefs: [{ name: 'gw' }, { group: '', kind: 'Service', name: 'api', port: 80 }, { group: '', kind: 'Service', name: 'api', namespace: 'other', sectionName: 'http' }] }));
  assert.equal(r!.parentRefs, [
    { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'shop', name: 'gw' },
    { group: '', kind: 'Service', namespace: 'shop', name: 'api', port: 80 },
    { group: '', kind: 'Service', namespace: 'other', name: 'api', sectionName: 'http' },
  ]);
});

defaults('metadata, apiVersion v1beta1, rule names and filter types (rule and backendRef level) are kept', () => {
  const { route: r } = normalize(
    route(
      {
        ...service,
        rules: [
          {
            name: 'canary',
            filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'a', value: 'b' }] } }],
            backendRefs: [backend({ filters: [{ type: 'ResponseHeaderModifier' }, { type: 'RequestHeaderModifier' }] })],
          },
        ],
      },
      { creationTimestamp: '2026-01-01T00:00:00Z' },
      'gateway.networking.k8s.io/v1beta1',
    ),
  );
  assert.is(r!.apiVersion, 'gateway.networking.k8s.io/v1beta1');
  assert.equal([r!.meta.namespace, r!.meta.name, r!.meta.creationTimestamp], ['shop', 'r', '2026-01-01T00:00:00Z']);
  assert.is(r!.rules[0]!.name, 'canary');
  assert.equal(r!.rules[0]!.filters, ['RequestHeaderModifier', 'ResponseHeaderModifier']);
});

defaults('a header named twice (in any case) counts once: the later entry is dropped with a warning (fact 11)', () => {
  const { route: r, diagnostics } = normalize(route({ ...service, rules: [{ matches: [{ headers: [{ name: 'Foo', value: '1' }, { name: 'foo', value: '2' }], queryParams: [{ name: 'a', value: '1' }, { name: 'A', value: '2' }] }] }] }));
  assert.equal(r!.rules[0]!.matches[0]!.headers, [{ type: 'Exact', name: 'Foo', value: '1' }]);
  assert.equal(r!.rules[0]!.matches[0]!.queryParams.map((q) => q.name), ['a', 'A']);
  assert.equal(diagnostics.map((d) => [d.severity, d.field]), [['warning', 'spec.rules[0].matches[0].headers[1].name']]);
});

const validation = suite('HTTPRoute: validation');

/** Exact and PathPrefix values (fact 10): [value, problem pattern or undefined when valid] */
const pathCases: [string, RegExp | undefined][] = [
  ['/', undefined],
  ['/v2', undefined],
  ['/v2/', undefined],
  ['/a.b/~user/x:y@z', undefined],
  ["/!$&'()*+,;=", undefined],
  ['/a%20b', undefined],
  ['abc', /must start with "\/"/],
  ['', /must start with "\/"/],
  ['/a//b', /must not contain "\/\/"/],
  ['/a/./b', /must not contain "\/\.\/"/],
  ['/a/../b', /must not contain "\/\.\.\/"/],
  ['/a%2fb', /must not contain "%2f"/],
  ['/a%2Fb', /must not contain "%2F"/],
  ['/a#b', /must not contain "#"/],
  ['/a/..', /must not end with "\/\.\."/],
  ['/a/.', /must not end with "\/\."/],
  ['/a b', /RFC 3986 path characters/],
  ['/a%zz', /RFC 3986 path characters/],
  ['/a?b=c', /RFC 3986 path characters/],
  ['/ü', /RFC 3986 path characters/],
];
for (const [value, problem] of pathCases) {
  validation(`path ${JSON.stringify(value)}: ${problem ? 'invalid' : 'valid'}`, () => {
    const found = pathValueProblem(value);
    if (problem) assert.match(found ?? '', problem);
    else assert.is(found, undefined);
    for (const type of ['Exact', 'PathPrefix']) {
      const { route: r, diagnostics } = normalize(route({ ...service, rules: [{ matches: [{ path: { type, value } }], backendRefs: [backend()] }] }));
      if (problem) {
        assert.is(r, undefined);
        assert.equal(diagnostics.map((d) => [d.kind, d.namespace, d.name, d.field]), [['HTTPRoute', 'shop', 'r', 'spec.rules[0].matches[0].path.value']]);
      } else {
        assert.ok(r);
        assert.equal(diagnostics, []);
      }
    }
  });
}

/** [description, spec, field, message] — each makes the API server refuse the route. */
const rejectCases: [string, object, string, RegExp][] = [
  ['weight above 1000000', { ...service, rules: [{ backendRefs: [backend({ weight: 1000001 })] }] }, 'spec.rules[0].backendRefs[0].weight', /1000001 is not a valid weight \(0-1000000\)/],
  ['negative weight', { ...service, rules: [{ backendRefs: [backend({ weight: -1 })] }] }, 'spec.rules[0].backendRefs[0].weight', /-1 is not a valid weight/],
  ['unknown path type', { ...service, rules: [{ matches: [{ path: { type: 'Glob', value: '/a' } }] }] }, 'spec.rules[0].matches[0].path.type', /"Glob" is not one of Exact, PathPrefix, RegularExpression/],
  ['bad regular expression', { ...service, rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/(' } }] }] }, 'spec.rules[0].matches[0].path.value', /not a valid regular expression/],
  ['unknown header match type', { ...service, rules: [{ matches: [{ headers: [{ type: 'Prefix', name: 'a', value: 'b' }] }] }] }, 'spec.rules[0].matches[0].headers[0].type', /"Prefix" is not one of Exact, RegularExpression/],
  ['header without value', { ...service, rules: [{ matches: [{ headers: [{ name: 'a' }] }] }] }, 'spec.rules[0].matches[0].headers[0].value', /is required/],
  ['bad header name', { ...service, rules: [{ matches: [{ headers: [{ name: 'a b', value: 'c' }] }] }] }, 'spec.rules[0].matches[0].headers[0].name', /not a valid header name/],
  ['unknown method', { ...service, rules: [{ matches: [{ method: 'FETCH' }] }] }, 'spec.rules[0].matches[0].method', /"FETCH" is not one of GET/],
  ['Service backendRef without port (fact 25)', { ...service, rules: [{ backendRefs: [{ name: 'api-v1' }] }] }, 'spec.rules[0].backendRefs[0].port', /is required for a Service reference/],
  ['backendRef without name', { ...service, rules: [{ backendRefs: [{ port: 80 }] }] }, 'spec.rules[0].backendRefs[0].name', /is required/],
  ['parentRef without name', { parentRefs: [{ kind: 'Service', group: '' }] }, 'spec.parentRefs[0].name', /is required/],
  ['parentRef port out of range', { parentRefs: [{ kind: 'Service', group: '', name: 'api', port: 0 }] }, 'spec.parentRefs[0].port', /0 is not a valid port/],
  ['filter without type', { ...service, rules: [{ filters: [{}], backendRefs: [backend()] }] }, 'spec.rules[0].filters[0].type', /is required/],
  ['rules not a list', { ...service, rules: { backendRefs: [] } }, 'spec.rules', /must be a list/],
];
for (const [description, spec, field, message] of rejectCases) {
  validation(`${description}: route refused, error on ${field}`, () => {
    const { route: r, diagnostics } = normalize(route(spec));
    assert.is(r, undefined);
    assert.is(diagnostics.length, 1, JSON.stringify(diagnostics));
    const d = diagnostics[0]!;
    assert.equal([d.severity, d.file, d.doc, d.kind, d.namespace, d.name, d.field], ['error', 'routes.yaml', 0, 'HTTPRoute', 'shop', 'r', field]);
    assert.match(d.message, message);
  });
}

validation('weights 0 and 1000000 are valid', () => {
  const { route: r, diagnostics } = normalize(route({ ...service, rules: [{ backendRefs: [backend({ weight: 0 }), { name: 'b', port: 80, weight: 1000000 }] }] }));
  assert.equal(diagnostics, []);
  assert.equal(r!.rules[0]!.backendRefs.map((b) => b.weight), [0, 1000000]);
});

validation('a backendRef of an unknown kind stays, marked InvalidKind, with an error (fact 21)', () => {
  const { route: r, diagnostics } = normalize(route({ ...service, rules: [{ backendRefs: [backend(), { group: 'example.com', kind: 'Bucket', name: 'b' }, { kind: 'ConfigMap', name: 'c', port: 80 }] }] }));
  assert.ok(r);
  assert.equal(r.rules[0]!.backendRefs.map((b) => b.invalid), [undefined, 'InvalidKind', 'InvalidKind']);
  assert.equal(diagnostics.map((d) => [d.severity, d.field]), [
    ['error', 'spec.rules[0].backendRefs[1].kind'],
    ['error', 'spec.rules[0].backendRefs[2].kind'],
  ]);
  assert.match(diagnostics[0]!.message, /Bucket.example.com is not a supported backend kind/);
});

validation('something other than an HTTPRoute is refused with a diagnostic', () => {
  const { route: r, diagnostics } = normalize({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } });
  assert.is(r, undefined);
  assert.equal(diagnostics.map((d) => [d.severity, d.field]), [['error', 'kind']]);
});

const references = suite('HTTPRoute: references to Services');

function services(...list: [string, number[]][]): Map<string, Service> {
  return new Map(
    list.map(([key, ports]) => {
      const [namespace, name] = key.split('/') as [string, string];
      const svc = { meta: { namespace, name }, ports: ports.map((port) => ({ name: '', port, protocol: 'TCP', targetPort: port })), clusterIPs: [] } as unknown as Service;
      return [key, svc];
    }),
  );
}

references('a backendRef to a missing Service or to a port it lacks is marked BackendNotFound, with an error each', () => {
  const { route: r } = normalize(route({ ...service, rules: [{ backendRefs: [backend(), { name: 'gone', port: 80 }, { name: 'api-v1', port: 81 }, { name: 'x', namespace: 'other', port: 80 }] }] }));
  const diagnostics: Diagnostic[] = [];
  resolveRouteReferences(r!, services(['shop/api', [80]], ['shop/api-v1', [80]], ['other/x', [80]]), diagnostics);
  assert.equal(r!.rules[0]!.backendRefs.map((b) => b.invalid), [undefined, 'BackendNotFound', 'BackendNotFound', undefined]);
  assert.equal(diagnostics.map((d) => [d.severity, d.file, d.doc, d.kind, d.namespace, d.name, d.field]), [
    ['error', 'routes.yaml', 0, 'HTTPRoute', 'shop', 'r', 'spec.rules[0].backendRefs[1].name'],
    ['error', 'routes.yaml', 0, 'HTTPRoute', 'shop', 'r', 'spec.rules[0].backendRefs[2].port'],
  ]);
  assert.match(diagnostics[0]!.message, /Service shop\/gone does not exist; requests sent to it get 500/);
});

references('a parentRef to a missing Service (or port) is an error; Gateway parents are not checked', () => {
  const { route: r } = normalize(route({ parentRefs: [{ group: '', kind: 'Service', name: 'missing' }, { group: '', kind: 'Service', name: 'api', port: 8080 }, { name: 'some-gateway' }] }));
  const diagnostics: Diagnostic[] = [];
  resolveRouteReferences(r!, services(['shop/api', [80]]), diagnostics);
  assert.equal(diagnostics.map((d) => d.field), ['spec.parentRefs[0].name', 'spec.parentRefs[1].port']);
  assert.match(diagnostics[0]!.message, /parent Service shop\/missing does not exist/);
  assert.is(r!.parentRefs.length, 3);
});

references('in buildModel: the route loads, its missing backend is invalid, the diagnostic has file, doc and line', () => {
  const yaml = [
    'apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec:\n  ports: [{port: 80}]',
    'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{group: "", kind: Service, name: api, port: 80}]\n  rules:\n  - backendRefs:\n    - name: api\n      port: 80\n    - name: gone\n      port: 80',
  ].join('\n---\n');
  const model = buildModel(parseManifests(yaml, 'm.yaml'));
  assert.is(model.routes.length, 1);
  assert.equal(model.routes[0]!.rules[0]!.backendRefs.map((b) => b.invalid), [undefined, 'BackendNotFound']);
  assert.equal(model.diagnostics.map((d) => [d.file, d.doc, d.line, d.kind, d.name, d.field]), [['m.yaml', 1, 16, 'HTTPRoute', 'r', 'spec.rules[0].backendRefs[1].name']]);
});

references('routes are sorted by namespace/name whatever the document order', () => {
  const routes = ['b/r', 'a/z', 'a/r'].map((key) => {
    const [namespace, name] = key.split('/');
    return JSON.stringify(route({ parentRefs: [{ name: 'gw' }] }, { namespace, name }));
  });
  const model = buildModel(parseManifests(routes.join('\n---\n'), 'r.yaml'));
  assert.equal(model.routes.map((r) => `${r.meta.namespace}/${r.meta.name}`), ['a/r', 'a/z', 'b/r']);
});

const conformance = suite('HTTPRoute: the Gateway API conformance routes');

conformance('every route of cases.json normalizes, with a path on every match', () => {
  const cases = JSON.parse(readFileSync(new URL('../../../shared/conformance/gateway-api/cases.json', import.meta.url), 'utf8')) as { name: string; routes: object[] }[];
  let count = 0;
  for (const c of cases) {
    c.routes.forEach((obj, doc) => {
      const diagnostics: Diagnostic[] = [];
      const r = normalizeHTTPRoute(obj, { file: c.name, doc }, diagnostics);
      assert.ok(r, `${c.name} route ${doc}: ${JSON.stringify(diagnostics)}`);
      assert.ok(r.rules.length > 0 && r.rules.every((rule) => rule.matches.every((m) => m.path.value.length > 0)));
      count++;
    });
  }
  assert.ok(count >= 100, `${count} routes`);
});

defaults.run();
validation.run();
references.run();
conformance.run();
