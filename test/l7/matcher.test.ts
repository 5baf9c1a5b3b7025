import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { L7Matcher } from '../../src/l7/matcher.ts';
import { encodeRoutes, encodeRequest, type HttpRequest } from '../../src/l7/encode.ts';
import type { HTTPRoute } from '../../src/model/types.ts';
import { match, route, rule, sharedMatcher, type MatchSpec } from './fixtures.ts';

let matcher: L7Matcher;
const loadMatcher = async () => { matcher = await sharedMatcher(); };

/** `route/rule/match` of the winner, or null. */
function winner(routes: HTTPRoute[], req: HttpRequest): string | null {
  const encoded = encodeRoutes(routes);
  const m = matcher.match(encoded, req);
  if (!m) return null;
  assert.is(encoded.rules[m.ruleRef].routeIndex, m.route, 'ruleRef points at the matched route');
  assert.is(encoded.rules[m.ruleRef].ruleIndex, m.rule, 'ruleRef points at the matched rule');
  return `${encoded.routes[m.route].meta.name}/${m.rule}/${m.match}`;
}

/** One route `r` with one rule holding a single match. */
function single(spec: MatchSpec): HTTPRoute[] {
  return [route('r', [rule([match(spec)])])];
}

interface Case { what: string; spec: MatchSpec; req: HttpRequest; hit: boolean }

const pathCases: Case[] = [
  { what: 'exact equal', spec: { exact: '/abc' }, req: { path: '/abc' }, hit: true },
  { what: 'exact trailing slash', spec: { exact: '/abc' }, req: { path: '/abc/' }, hit: false },
  { what: 'exact case', spec: { exact: '/abc' }, req: { path: '/Abc' }, hit: false },
  { what: 'exact longer', spec: { exact: '/abc' }, req: { path: '/abcd' }, hit: false },
  { what: 'exact root', spec: { exact: '/' }, req: { path: '/' }, hit: true },
  { what: 'exact root vs path', spec: { exact: '/' }, req: { path: '/a' }, hit: false },
  { what: 'exact with trailing slash', spec: { exact: '/two/' }, req: { path: '/two' }, hit: false },
  { what: 'prefix same', spec: { prefix: '/v2' }, req: { path: '/v2' }, hit: true },
  { what: 'prefix trailing slash in request', spec: { prefix: '/v2' }, req: { path: '/v2/' }, hit: true },
  { what: 'prefix sub-path', spec: { prefix: '/v2' }, req: { path: '/v2/example' }, hit: true },
  { what: 'prefix not a segment', spec: { prefix: '/v2' }, req: { path: '/v2example' }, hit: false },
  { what: 'prefix only leading', spec: { prefix: '/v2' }, req: { path: '/foo/v2/example' }, hit: false },
  { what: 'prefix case', spec: { prefix: '/v2' }, req: { path: '/V2' }, hit: false },
  { what: 'prefix with slash, sub-path', spec: { prefix: '/match/' }, req: { path: '/match/any' }, hit: true },
  { what: 'prefix with slash, bare', spec: { prefix: '/match/' }, req: { path: '/match' }, hit: true },
  { what: 'prefix with slash, not segment', spec: { prefix: '/match/' }, req: { path: '/matchx' }, hit: false },
  { what: 'prefix dash', spec: { prefix: '/full' }, req: { path: '/full-path-and-host' }, hit: false },
  { what: 'prefix root', spec: { prefix: '/' }, req: { path: '/anything/at/all' }, hit: true },
  { what: 'prefix longer than path', spec: { prefix: '/a/b/c' }, req: { path: '/a/b' }, hit: false },
  { what: 'prefix multi-segment', spec: { prefix: '/a/b' }, req: { path: '/a/b/c' }, hit: true },
  { what: 'prefix utf-8', spec: { prefix: '/caf\u00e9' }, req: { path: '/caf\u00e9/x' }, hit: true },
];

const conditionCases: Case[] = [
  { what: 'header name case-insensitive', spec: { headers: { version: 'one' } }, req: { path: '/', headers: { Version: 'one' } }, hit: true },
  { what: 'header name upper in route', spec: { headers: { VERSION: 'one' } }, req: { path: '/', headers: { version: 'one' } }, hit: true },
  { what: 'header value case-sensitive', spec: { headers: { version: 'one' } }, req: { path: '/', headers: { version: 'One' } }, hit: false },
  { what: 'header value exact', spec: { headers: { version: 'one' } }, req: { path: '/', headers: { version: 'one1' } }, hit: false },
  { what: 'header missing', spec: { headers: { version: 'one' } }, req: { path: '/' }, hit: false },
  { what: 'headers ANDed', spec: { headers: { version: 'two', color: 'orange' } }, req: { path: '/', headers: { version: 'two' } }, hit: false },
  { what: 'headers ANDed, all present', spec: { headers: { version: 'two', color: 'orange' } }, req: { path: '/', headers: { Color: 'orange', Version: 'two' } }, hit: true },
  { what: 'repeated header: first value', spec: { headers: { x: 'a' } }, req: { path: '/', headers: { x: ['a', 'b'] } }, hit: true },
  { what: 'repeated header: not second', spec: { headers: { x: 'b' } }, req: { path: '/', headers: { x: ['a', 'b'] } }, hit: false },
  { what: 'empty header value', spec: { headers: { x: '' } }, req: { path: '/', headers: { x: '' } }, hit: true },
  { what: 'query exact', spec: { query: { animal: 'whale' } }, req: { path: '/', query: { animal: 'whale' } }, hit: true },
  { what: 'query name case-sensitive', spec: { query: { animal: 'whale' } }, req: { path: '/', query: { ANIMAL: 'whale' } }, hit: false },
  { what: 'query value case-sensitive', spec: { query: { animal: 'whale' } }, req: { path: '/', query: { animal: 'Whale' } }, hit: false },
  { what: 'query value exact', spec: { query: { animal: 'whale' } }, req: { path: '/', query: { animal: 'whaledolphin' } }, hit: false },
  { what: 'query extra params ignored', spec: { query: { animal: 'whale' } }, req: { path: '/', query: { animal: 'whale', other: 'x' } }, hit: true },
  { what: 'query repeated: first value', spec: { query: { a: '1' } }, req: { path: '/', query: { a: ['1', '2'] } }, hit: true },
  { what: 'query repeated: not second', spec: { query: { a: '2' } }, req: { path: '/', query: { a: ['1', '2'] } }, hit: false },
  { what: 'query is not a header', spec: { query: { a: '1' } }, req: { path: '/', headers: { a: '1' } }, hit: false },
  { what: 'header is not a query', spec: { headers: { a: '1' } }, req: { path: '/', query: { a: '1' } }, hit: false },
  { what: 'method exact', spec: { method: 'POST' }, req: { path: '/', method: 'POST' }, hit: true },
  { what: 'method differs', spec: { method: 'POST' }, req: { path: '/', method: 'HEAD' }, hit: false },
  { what: 'method default GET', spec: { method: 'GET' }, req: { path: '/' }, hit: true },
  { what: 'method case', spec: { method: 'GET' }, req: { path: '/', method: 'get' }, hit: false },
  { what: 'path AND method', spec: { prefix: '/p', method: 'GET' }, req: { path: '/q', method: 'GET' }, hit: false },
  { what: 'path AND query', spec: { prefix: '/p', query: { a: '1' } }, req: { path: '/p', query: { a: '2' } }, hit: false },
  { what: 'regex path, whole path', spec: { regex: '/x[0-9]+' }, req: { path: '/x12' }, hit: true },
  { what: 'regex path is not a search', spec: { regex: '/x[0-9]+' }, req: { path: '/x12/y' }, hit: false },
];

const single_ = suite('l7 matcher: single match conditions');
single_.before(loadMatcher);
for (const c of [...pathCases, ...conditionCases]) {
  single_(c.what, () => {
    assert.is(winner(single(c.spec), c.req), c.hit ? 'r/0/0' : null);
  });
}
single_.run();

const ors = suite('l7 matcher: matches ORed within a rule');
ors.before(loadMatcher);
ors('any match of the rule selects it, reporting which', () => {
  const routes = [route('r', [rule([match({ headers: { color: 'blue' } }), match({ headers: { color: 'green' } })])])];
  assert.is(winner(routes, { path: '/', headers: { color: 'blue' } }), 'r/0/0');
  assert.is(winner(routes, { path: '/', headers: { color: 'green' } }), 'r/0/1');
  assert.is(winner(routes, { path: '/', headers: { color: 'red' } }), null);
});
ors('a rule with no matches is never selected', () => {
  assert.is(winner([route('r', [rule([])])], { path: '/' }), null);
});
ors('no routes: no match', () => {
  assert.is(winner([], { path: '/' }), null);
});
ors.run();

interface PrecedenceCase { what: string; routes: HTTPRoute[]; req: HttpRequest; expect: string | null }

const precedenceCases: PrecedenceCase[] = [
  {
    what: 'Exact beats a longer PathPrefix',
    routes: [route('r', [rule([match({ prefix: '/match/exact/' })]), rule([match({ exact: '/match/exact' })])])],
    req: { path: '/match/exact' }, expect: 'r/1/0',
  },
  {
    what: 'longest prefix wins, in characters',
    routes: [route('r', [rule([match({ prefix: '/match/' })]), rule([match({ prefix: '/match/prefix/one' })]), rule([match({ prefix: '/match/prefix/' })])])],
    req: { path: '/match/prefix/one/any' }, expect: 'r/1/0',
  },
  {
    what: 'prefix length counts a trailing slash as written',
    routes: [route('r', [rule([match({ prefix: '/a' })]), rule([match({ prefix: '/a/' })])])],
    req: { path: '/a/b' }, expect: 'r/1/0',
  },
  {
    what: 'longer prefix beats a method',
    routes: [route('r', [rule([match({ method: 'PATCH' })]), rule([match({ prefix: '/path5' })])])],
    req: { path: '/path5', method: 'PATCH' }, expect: 'r/1/0',
  },
  {
    what: 'method beats headers',
    routes: [route('r', [rule([match({ headers: { version: 'four' } })]), rule([match({ method: 'PATCH' })])])],
    req: { path: '/', method: 'PATCH', headers: { version: 'four' } }, expect: 'r/1/0',
  },
  {
    what: 'more headers win',
    routes: [route('r', [rule([match({ headers: { version: 'two' } })]), rule([match({ headers: { version: 'two', color: 'orange' } })])])],
    req: { path: '/', headers: { version: 'two', color: 'orange' } }, expect: 'r/1/0',
  },
  {
    what: 'a header beats query params',
    routes: [route('r', [rule([match({ query: { animal: 'hydra', x: 'y' } })]), rule([match({ headers: { version: 'four' } })])])],
    req: { path: '/', headers: { version: 'four' }, query: { animal: 'hydra', x: 'y' } }, expect: 'r/1/0',
  },
  {
    what: 'more query params win',
    routes: [route('r', [rule([match({ query: { animal: 'dolphin' } })]), rule([match({ query: { animal: 'dolphin', color: 'blue' } })])])],
    req: { path: '/', query: { animal: 'dolphin', color: 'blue' } }, expect: 'r/1/0',
  },
  {
    what: 'duplicate header names count once (first wins)',
    routes: [route('r', [rule([match({ headers: { a: '1', b: '2' } })]), rule([match({ headers: { x: '1', X: 'other' } })])])],
    req: { path: '/', headers: { a: '1', b: '2', x: '1' } }, expect: 'r/0/0',
  },
  {
    what: 'comparison is per match, not per rule',
    routes: [route('r', [rule([match({ prefix: '/' }), match({ prefix: '/long/er' })]), rule([match({ prefix: '/long' })])])],
    req: { path: '/long/er/x' }, expect: 'r/0/1',
  },
  {
    what: 'tie within a route: first rule',
    routes: [route('r', [rule([match({ headers: { z: '1' } })]), rule([match({ headers: { version: 'two' } })]), rule([match({ headers: { color: 'blue' } })])])],
    req: { path: '/', headers: { version: 'two', color: 'blue' } }, expect: 'r/1/0',
  },
  {
    what: 'tie across routes: oldest route',
    routes: [
      route('a', [rule([match({ prefix: '/x' })])], { created: '2024-05-02T00:00:00Z' }),
      route('b', [rule([match({ prefix: '/x' })])], { created: '2024-05-01T00:00:00Z' }),
    ],
    req: { path: '/x' }, expect: 'b/0/0',
  },
  {
    what: 'tie across routes, same age: namespace/name order',
    routes: [
      route('b', [rule([match({ prefix: '/x' })])], { namespace: 'ns1' }),
      route('a', [rule([match({ prefix: '/x' })])], { namespace: 'ns2' }),
      route('c', [rule([match({ prefix: '/x' })])], { namespace: 'ns1' }),
    ],
    req: { path: '/x' }, expect: 'b/0/0',
  },
  {
    what: 'a route with a timestamp is older than one without',
    routes: [route('a', [rule([match()])]), route('z', [rule([match()])], { created: '2030-01-01T00:00:00Z' })],
    req: { path: '/' }, expect: 'z/0/0',
  },
  {
    what: 'precedence wins over route age',
    routes: [
      route('old', [rule([match({ prefix: '/' })])], { created: '2020-01-01T00:00:00Z' }),
      route('new', [rule([match({ prefix: '/v2' })])], { created: '2024-01-01T00:00:00Z' }),
    ],
    req: { path: '/v2/a' }, expect: 'new/0/0',
  },
  {
    what: 'a better match that fails does not hide a worse one that holds',
    routes: [route('r', [rule([match({ prefix: '/' })]), rule([match({ exact: '/a', headers: { h: '1' } })])])],
    req: { path: '/a' }, expect: 'r/0/0',
  },
];

const precedence = suite('l7 matcher: precedence');
precedence.before(loadMatcher);
for (const c of precedenceCases) {
  precedence(c.what, () => {
    assert.is(winner(c.routes, c.req), c.expect);
  });
}
precedence.run();

const buffers = suite('l7 matcher: buffers');
buffers.before(loadMatcher);
buffers('large route sets and requests grow Wasm memory without losing data', () => {
  const rules = Array.from({ length: 3000 }, (_, i) => rule([match({ exact: `/item/${i}`, headers: { 'x-big': 'v'.repeat(200) } })]));
  const routes = [route('big', rules)];
  const headers = { 'x-big': 'v'.repeat(200), 'x-pad': 'p'.repeat(300_000) };
  assert.is(winner(routes, { path: '/item/2999', headers }), 'big/2999/0');
  assert.is(winner(routes, { path: '/item/3000', headers }), null);
});
buffers('switching between route sets reloads the right one', () => {
  const one = encodeRoutes([route('one', [rule([match({ prefix: '/one' })])])]);
  const two = encodeRoutes([route('two', [rule([match({ prefix: '/two' })])])]);
  assert.ok(matcher.match(one, { path: '/one' }));
  assert.is(matcher.match(two, { path: '/one' }), null);
  assert.ok(matcher.match(two, { path: '/two' }));
  assert.ok(matcher.match(one, { path: '/one' }));
});
buffers('a truncated routes buffer is rejected', () => {
  const good = encodeRoutes([route('r', [rule([match({ prefix: '/x', headers: { a: 'b' } })])])]);
  for (const cut of [4, 12, good.bytes.length - 1]) {
    const bad = { ...good, bytes: good.bytes.slice(0, cut) };
    assert.throws(() => matcher.match(bad, { path: '/x' }), /routes buffer .* malformed/);
  }
});
buffers('a request buffer with an out-of-range offset is rejected', () => {
  const routes = encodeRoutes([route('r', [rule([match()])])]);
  const req = encodeRequest({ path: '/x', headers: { a: 'b' } });
  new DataView(req.buffer).setUint32(28, 1 << 20, true); // first header's name offset
  assert.throws(() => matcher.matchEncoded(routes, req), /malformed request/);
});
buffers.run();
