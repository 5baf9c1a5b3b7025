// simulate shows where a request is decided (L4 in the kernel or L7 in the node proxy, and why)
// and what the matched rule's filters do: a redirect's Location, the rewritten request, the
// response header edits, a mirror it does not apply.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { servedLines, simulate } from '../../src/sim/simulate.ts';
import type { PolicyInstance } from '../../src/wasm/instance.ts';

type Obj = Record<string, unknown>;
const service = (name: string, port: number): Obj => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port }] } });
const model = (rules: Obj[]) => buildModel([
  service('shop', 8080), service('shop-v2', 8080),
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'shop', namespace: 'default' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'shop', port: 8080 }], rules } },
].map((object, doc) => ({ file: 't', doc, object })));

let instance: PolicyInstance;
const test = suite('simulate: L4 or L7, and filters');
test.before(async () => {
  instance = await loadPolicyWasm();
});

test('a weights-only route is decided in the kernel', () => {
  const r = simulate(model([{ backendRefs: [{ name: 'shop-v2', port: 8080 }] }]), instance, { to: { name: 'shop', port: 8080 }, connections: 10, seed: 1 });
  assert.equal(r.served, { layer: 'L4', why: 'HTTPRoute default/shop: catch-all rules only, weights decided per connection' });
  assert.is(r.filters, undefined);
});

test('a redirect: every request gets its status and Location, the default Host is the Service name', () => {
  const m = model([{ matches: [{ path: { type: 'PathPrefix', value: '/old' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' }, statusCode: 301 } }] }]);
  const r = simulate(m, instance, { to: { name: 'shop', port: 8080 }, request: { path: '/old/a', query: { q: '1' } }, connections: 10, seed: 1 });
  assert.equal(r.filters?.redirect, { status: 301, location: 'http://shop.default.svc.cluster.local:8080/new/a?q=1' });
  assert.is(r.status, 301);
  assert.equal(r.backends, []);
  assert.is(r.served.layer, 'L7');
});

test('a rewrite, header edits and a mirror: the request the backend receives, and what is not applied', () => {
  const m = model([{
    filters: [
      { type: 'URLRewrite', urlRewrite: { hostname: 'v2.shop', path: { type: 'ReplaceFullPath', replaceFullPath: '/items' } } },
      { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-from', value: 'mesh' }] } },
      { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['server'] } },
      { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shop-v2', port: 8080 }, percent: 10 } },
    ],
    backendRefs: [{ name: 'shop-v2', port: 8080 }],
  }]);
  const r = simulate(m, instance, { to: { name: 'shop', port: 8080 }, request: { path: '/list', headers: { 'x-a': '1' } }, connections: 10, seed: 1 });
  assert.equal(r.filters?.request, { path: '/items', headers: [['x-a', '1'], ['host', 'v2.shop'], ['x-from', 'mesh']] });
  assert.equal(r.filters?.responseHeaders, { set: [], add: [], remove: ['server'] });
  assert.equal(servedLines(r), [
    'Decided by the node proxy (L7): HTTPRoute default/shop rule 0 has filters (URLRewrite, RequestHeaderModifier, ResponseHeaderModifier, RequestMirror)',
    'The backend receives: GET /items, headers x-a: 1, host: v2.shop, x-from: mesh',
    'Response headers: remove server',
    '  RequestMirror to default/shop-v2 (10%) is not applied: the node proxy (HAProxy 2.6) has no request mirroring',
  ]);
});

test.run();
