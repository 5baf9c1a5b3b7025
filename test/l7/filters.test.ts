// HTTPRoute filters: the model reads them as the CRD checks them (located errors), and the Wasm
// matcher applies them (assembly/l7/rewrite.ts, edit.ts): the spec's ReplacePrefixMatch table,
// redirect defaults (scheme, host, port), URLRewrite's host, response header edits.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { formatDiagnostic } from '../../src/model/diagnostics.ts';
import type { HTTPRoute } from '../../src/model/types.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { createL7Matcher } from '../../src/l7/matcher.ts';
import { encodeRoutes } from '../../src/l7/encode.ts';
import { encodeFilters, filterRequest, filterResponseHeaders } from '../../src/l7/filters.ts';
import type { PolicyInstance } from '../../src/wasm/instance.ts';

type Obj = Record<string, unknown>;

function routeOf(rules: Obj[]): { route?: HTTPRoute; diagnostics: string[] } {
  const model = buildModel([
    { file: 't.yaml', doc: 0, object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'front', namespace: 'default' }, spec: { ports: [{ port: 80 }] } } },
    { file: 't.yaml', doc: 1, object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'v1', namespace: 'default' }, spec: { ports: [{ port: 8080 }] } } },
    { file: 't.yaml', doc: 2, object: {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'default' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'front', port: 80 }], rules },
    } },
  ]);
  // Warnings say which paths apply a filter (src/model/support.ts); errors are what this test is about.
  return { route: model.routes[0], diagnostics: model.diagnostics.filter((d) => d.severity !== 'warning').map(formatDiagnostic) };
}

const model = suite('filters in the model');

model('each filter is read with its defaults', () => {
  const { route, diagnostics } = routeOf([
    { matches: [{ path: { type: 'PathPrefix', value: '/foo' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] },
    { filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'b.example', path: { type: 'ReplaceFullPath', replaceFullPath: '/x' } } }, { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-a', value: '1' }] } }], backendRefs: [{ name: 'v1', port: 8080 }] },
    { filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'v1', port: 8080 }, fraction: { numerator: 1, denominator: 4 } } }], timeouts: { request: '1m30s', backendRequest: '500ms' }, backendRefs: [{ name: 'v1', port: 8080 }] },
  ]);
  assert.equal(diagnostics, []);
  const [a, b, c] = route!.rules;
  assert.equal(a!.redirect, { statusCode: 302, scheme: 'https' });
  assert.equal(b!.rewrite, { hostname: 'b.example', path: { type: 'ReplaceFullPath', value: '/x' } });
  assert.equal(b!.responseHeaders, { set: [], add: [{ name: 'x-a', value: '1' }], remove: [] });
  assert.equal(c!.mirrors, [{ backend: { group: '', kind: 'Service', namespace: 'default', name: 'v1', weight: 1, port: 8080 }, percent: 25 }]);
  assert.equal(c!.timeouts, { request: 90_000, backendRequest: 500 });
});

const rejected = [
  {
    what: 'a redirect beside a rewrite',
    rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: {} }, { type: 'URLRewrite', urlRewrite: {} }] }],
    message: 'spec.rules[0].filters: May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both',
  },
  {
    what: 'ReplacePrefixMatch without exactly one PathPrefix match',
    rules: [{ matches: [{ path: { type: 'Exact', value: '/a' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }] }],
    message: 'spec.rules[0].filters[0].urlRewrite.path.type: When using URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified',
  },
  {
    what: 'a redirect status outside the enum',
    rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 304 } }] }],
    message: 'spec.rules[0].filters[0].requestRedirect.statusCode: 304 is not one of 301, 302, 303, 307, 308',
  },
  {
    what: 'a backendRequest timeout longer than the request timeout',
    rules: [{ timeouts: { request: '1s', backendRequest: '2s' } }],
    message: 'spec.rules[0].timeouts.backendRequest: backendRequest timeout cannot be longer than request timeout',
  },
  {
    what: 'a repeated filter',
    rules: [{ filters: [{ type: 'URLRewrite', urlRewrite: {} }, { type: 'URLRewrite', urlRewrite: {} }] }],
    message: 'spec.rules[0].filters[1].type: URLRewrite filter cannot be repeated',
  },
];

for (const c of rejected) {
  model(`rejected at its field: ${c.what}`, () => {
    const { diagnostics } = routeOf(c.rules);
    assert.ok(diagnostics.some((d) => d.includes(c.message)), diagnostics.join('\n'));
  });
}

model('an edit of a hop-by-hop header is reported and left out', () => {
  const { route, diagnostics } = routeOf([{ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'Connection', value: 'close' }, { name: 'x-a', value: '1' }] } }] }]);
  assert.ok(diagnostics.some((d) => d.includes('requestHeaderModifier.set[0].name: Connection is a hop-by-hop or framing header')), diagnostics.join('\n'));
  assert.equal(route!.rules[0]!.requestHeaders!.set, [{ name: 'x-a', value: '1' }]);
});

let instance: PolicyInstance;
const wasm = suite('filters in the Wasm matcher');
wasm.before(async () => {
  instance = await loadPolicyWasm();
});

/** Runs one request through a one-rule route and its filters. */
function run(rule: Obj, path: string, options: { host?: string; query?: string; port?: number } = {}) {
  const { route, diagnostics } = routeOf([{ backendRefs: [{ name: 'v1', port: 8080 }], ...rule }]);
  assert.equal(diagnostics, []);
  const routes = encodeRoutes([route!]);
  const filters = encodeFilters(routes.rules.map((r) => r.route.rules[r.ruleIndex]!));
  const match = createL7Matcher(instance).match(routes, { path, headers: { 'x-keep': 'k', host: options.host ?? 'front.default:80' } });
  assert.ok(match, 'the rule matches');
  return {
    request: filterRequest(instance, filters, match!.ruleRef, 0, { path, port: options.port ?? 80, ...(options.query === undefined ? {} : { query: options.query }) }),
    response: filterResponseHeaders(instance, filters, match!.ruleRef, 0, [['x-r', 'one'], ['X-R', 'two'], ['x-s', 's']]),
  };
}

// The spec's table (HTTPPathModifier.ReplacePrefixMatch), and the trailing-slash cases around it.
const prefixTable: [string, string, string, string][] = [
  ['/foo', '/xyz', '/foo/bar', '/xyz/bar'],
  ['/foo', '/xyz/', '/foo/bar', '/xyz/bar'],
  ['/foo/', '/xyz', '/foo/bar', '/xyz/bar'],
  ['/foo/', '/xyz/', '/foo/bar', '/xyz/bar'],
  ['/foo', '/xyz', '/foo', '/xyz'],
  ['/foo', '/xyz/', '/foo', '/xyz/'],
  ['/foo/', '/xyz', '/foo', '/xyz'],
  ['/foo/', '/xyz/', '/foo', '/xyz/'],
  ['/foo', '', '/foo', '/'],
  ['/foo', '', '/foo/', '/'],
  ['/foo', '', '/foo/bar', '/bar'],
  ['/foo', '/', '/foo/bar', '/bar'],
  ['/foo', '/', '/foo', '/'],
  ['/', '/xyz', '/a/b', '/xyz/a/b'],
];

for (const [prefix, value, path, want] of prefixTable) {
  wasm(`ReplacePrefixMatch ${prefix} -> ${JSON.stringify(value)}: ${path} becomes ${want}`, () => {
    const { request } = run({ matches: [{ path: { type: 'PathPrefix', value: prefix } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: value } } }] }, path, { query: 'a=1' });
    assert.equal(request, { kind: 'forward', path: `${want}?a=1`, headers: [['x-keep', 'k'], ['host', 'front.default:80']] });
  });
}

const redirects: [string, Obj, { host?: string; port?: number }, string][] = [
  ['defaults: http, the request\'s host without its port, the Service port', {}, { host: 'front.default:8080', port: 8080 }, 'http://front.default:8080/p/q'],
  ['port 80 is left out for http', {}, { port: 80 }, 'http://front.default/p/q'],
  ['a scheme without a port takes its well-known port', { scheme: 'https' }, { port: 8080 }, 'https://front.default/p/q'],
  ['a port set is kept unless it is the scheme\'s', { scheme: 'https', port: 8443, hostname: 'example.com' }, {}, 'https://example.com:8443/p/q'],
  ['https on 443 leaves the port out', { scheme: 'https', port: 443 }, {}, 'https://front.default/p/q'],
  ['an IPv6 literal keeps its brackets', {}, { host: '[fd00::1]:80', port: 80 }, 'http://[fd00::1]/p/q'],
  ['full path', { path: { type: 'ReplaceFullPath', replaceFullPath: '/new' }, statusCode: 301 }, {}, 'http://front.default/new'],
  ['prefix', { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/x' } }, {}, 'http://front.default/x/q'],
];

for (const [what, redirect, options, location] of redirects) {
  wasm(`RequestRedirect, ${what}`, () => {
    const { request } = run({ matches: [{ path: { type: 'PathPrefix', value: '/p' } }], filters: [{ type: 'RequestRedirect', requestRedirect: redirect }] }, '/p/q', options);
    assert.equal(request, { kind: 'redirect', status: (redirect['statusCode'] as number | undefined) ?? 302, location });
  });
}

wasm('URLRewrite hostname sets Host before the rule\'s header edits; response edits in order, names case-insensitive', () => {
  const { request, response } = run({
    filters: [
      { type: 'URLRewrite', urlRewrite: { hostname: 'b.example' } },
      { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-keep', value: 'more' }] } },
      { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'X-R', value: 'set' }], remove: ['x-s'] } },
    ],
  }, '/any');
  assert.equal(request, { kind: 'forward', path: '/any', headers: [['x-keep', 'k'], ['host', 'b.example'], ['x-keep', 'more']] });
  assert.equal(response, [['X-R', 'set']]);
});

model.run();
wasm.run();
