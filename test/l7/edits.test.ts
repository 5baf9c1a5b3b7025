// RequestHeaderModifier in the Wasm matcher (assembly/l7/edit.ts): the conformance suite's
// set / add / remove cases, case-insensitive names, a rule edit then a backendRef edit.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { createL7Matcher } from '../../src/l7/matcher.ts';
import { encodeRoutes } from '../../src/l7/encode.ts';
import { editRequestHeaders, encodeEdits } from '../../src/l7/edits.ts';
import type { HTTPRoute } from '../../src/model/types.ts';
import type { PolicyInstance } from '../../src/wasm/instance.ts';

let instance: PolicyInstance;
let matcher: ReturnType<typeof createL7Matcher>;
const route: HTTPRoute = {
  meta: { namespace: 'default', name: 'r', labels: {}, annotations: {}, source: { file: 't', doc: 0 } },
  apiVersion: 'gateway.networking.k8s.io/v1', parentRefs: [],
  rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }], backendRefs: [], filters: [] }],
};
const routes = encodeRoutes([route]);
const edits = encodeEdits([
  { set: [{ name: 'X-Header-Set', value: 'header-set' }], add: [{ name: 'X-Header-Add', value: 'header-add' }], remove: ['X-Header-Remove'] },
  { set: [], add: [{ name: 'x-backend', value: 'b' }], remove: ['another-header'] },
]);

const test = suite('header edits');

test.before(async () => {
  instance = await loadPolicyWasm();
  matcher = createL7Matcher(instance);
});

test('set replaces every value, add appends, remove drops, names case-insensitive', () => {
  assert.ok(matcher.match(routes, { path: '/x', headers: { 'x-header-set': 'original-val-set', 'x-header-add': 'original-val-add', 'x-header-remove': 'gone', 'Another-Header': 'another-header-val' } }));
  assert.equal(editRequestHeaders(instance, edits, 0, -1), [
    ['x-header-add', 'original-val-add'], ['another-header', 'another-header-val'],
    ['X-Header-Set', 'header-set'], ['X-Header-Add', 'header-add'],
  ]);
});

test('the rule edit, then the backendRef edit; out-of-range indexes are refused', () => {
  assert.ok(matcher.match(routes, { path: '/', headers: { 'Another-Header': 'v' } }));
  assert.equal(editRequestHeaders(instance, edits, 0, 1), [['X-Header-Set', 'header-set'], ['X-Header-Add', 'header-add'], ['x-backend', 'b']]);
  assert.equal(editRequestHeaders(instance, edits, -1, -1), [['another-header', 'v']]);
  assert.throws(() => editRequestHeaders(instance, edits, 2, -1), /out of range/);
});

test.run();
