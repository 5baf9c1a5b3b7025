import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeRoutes, encodeRequest, orderRoutes, parseRequestTarget, ROUTES_MAGIC, REQUEST_MAGIC } from '../../src/l7/encode.ts';
import { readReferenceGrant } from '../../src/l7/reference-grant.ts';
import { match, route, rule } from './fixtures.ts';

const order = suite('l7 encode: route order and rule references');
order('oldest first, then namespace/name, routes without timestamps last', () => {
  const routes = [
    route('c', [], { namespace: 'a' }),
    route('b', [], { namespace: 'b', created: '2024-02-01T00:00:00Z' }),
    route('a', [], { namespace: 'b' }),
    route('z', [], { namespace: 'z', created: '2024-01-01T00:00:00Z' }),
  ];
  assert.equal(orderRoutes(routes).map((r) => `${r.meta.namespace}/${r.meta.name}`), ['z/z', 'b/b', 'a/c', 'b/a']);
});
order('a bad timestamp names the route and field', () => {
  assert.throws(() => orderRoutes([route('x', [], { created: 'yesterday' }), route('y', [])]), /HTTPRoute default\/x: metadata.creationTimestamp: "yesterday"/);
});
order('rule references: default numbering, or the caller\'s', () => {
  const routes = [route('b', [rule([match()]), rule([match()])]), route('a', [rule([match()])])];
  const enc = encodeRoutes(routes);
  assert.equal(enc.rules.map((r) => [r.route.meta.name, r.ruleIndex, r.ruleRef]), [['a', 0, 0], ['b', 0, 1], ['b', 1, 2]]);
  const custom = encodeRoutes(routes, { ruleRef: (r, i) => (r.meta.name === 'a' ? 100 : 200) + i });
  assert.equal(custom.rules.map((r) => r.ruleRef), [100, 200, 201]);
  assert.throws(() => encodeRoutes(routes, { ruleRef: () => -1 }), /HTTPRoute default\/[ab]: spec.rules\[0\]: rule reference -1/);
});
order.run();

const bytes = suite('l7 encode: byte layout');
bytes('routes buffer starts with the magic and route count; lengths are bounded', () => {
  const enc = encodeRoutes([route('r', [rule([match({ exact: '/a', method: 'GET', headers: { X: '1' } })])])]);
  const v = new DataView(enc.bytes.buffer, enc.bytes.byteOffset);
  assert.is(v.getUint32(0, true), ROUTES_MAGIC);
  assert.is(v.getUint32(4, true), 1);
  const text = new TextDecoder().decode(enc.bytes);
  assert.ok(text.includes('x'), 'header name lower-cased');
  assert.not.ok(text.includes('X'), 'no upper-case header name left');
  assert.throws(() => encodeRoutes([route('r', [rule([match({ exact: '/' + 'a'.repeat(70_000) })])])]), /HTTPRoute default\/r: spec.rules\[0\].matches\[0\].path.value: 70001 bytes/);
});
bytes('regular expressions outside the subset are reported, naming the field', () => {
  const m = match({ regex: '/a.*' });
  m.headers.push({ type: 'RegularExpression', name: 'h', value: '(a)\\1' });
  m.queryParams.push({ type: 'RegularExpression', name: 'q', value: 'x+' });
  const enc = encodeRoutes([route('r', [rule([match(), m])])]);
  assert.equal(enc.unsupported, [
    'HTTPRoute default/r: spec.rules[0].matches[1].headers[0].value: "(a)\\\\1": backreferences are not supported; this match never matches',
  ]);
});
bytes('request buffer: magic, method default GET, one record per repeated value', () => {
  const req = encodeRequest({ path: '/p', headers: { A: ['1', '2'] }, query: { q: 'x' } });
  const v = new DataView(req.buffer);
  assert.is(v.getUint32(0, true), REQUEST_MAGIC);
  const text = (off: number, len: number) => new TextDecoder().decode(req.subarray(off, off + len));
  assert.is(text(v.getUint32(4, true), v.getUint32(8, true)), '/p');
  assert.is(text(v.getUint32(12, true), v.getUint32(16, true)), 'GET');
  assert.is(v.getUint32(20, true), 2);
  assert.is(v.getUint32(24, true), 1);
  assert.is(text(v.getUint32(28, true), v.getUint32(32, true)), 'a');
  assert.is(text(v.getUint32(44 + 8, true), v.getUint32(44 + 12, true)), '2');
});
bytes.run();

const target = suite('l7 encode: request targets');
const targetCases: [string, string, Record<string, string[]>][] = [
  ['/', '/', {}],
  ['/p?animal=whale', '/p', { animal: ['whale'] }],
  ['/?a=1&a=2&b', '/', { a: ['1', '2'], b: [''] }],
  ['/?x=a%20b&y=%zz', '/', { x: ['a b'], y: ['%zz'] }],
];
for (const [t, path, query] of targetCases) {
  target(t, () => {
    const got = parseRequestTarget(t);
    assert.is(got.path, path);
    assert.equal({ ...got.query }, { ...query });
    assert.equal(Object.keys(got.query), Object.keys(query).length ? Object.keys(query) : []);
  });
}
target('a parameter named __proto__ is an ordinary name', () => {
  const got = parseRequestTarget('/?__proto__=1');
  assert.equal(Object.keys(got.query), ['__proto__']);
  assert.equal(got.query['__proto__'], ['1']);
});
target.run();

const grants = suite('l7 reference grants');
grants('reads a grant', () => {
  const g = readReferenceGrant({
    apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'ns' },
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'a' }], to: [{ group: '', kind: 'Service' }] },
  });
  assert.equal(g, { namespace: 'ns', name: 'g', from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'a' }], to: [{ group: '', kind: 'Service' }] });
});
grants('errors name the object and field', () => {
  assert.throws(
    () => readReferenceGrant({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'ns' }, spec: { from: [{ group: 'x', kind: 'HTTPRoute' }], to: [{ group: '', kind: 'Service' }] } }),
    /ReferenceGrant ns\/g: spec.from\[0\].namespace: is required/,
  );
  assert.throws(() => readReferenceGrant({ apiVersion: 'v1', kind: 'ReferenceGrant', metadata: { name: 'g' }, spec: {} }), /ReferenceGrant default\/g: apiVersion/);
});
grants.run();
