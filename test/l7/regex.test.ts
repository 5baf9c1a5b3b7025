import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { L7Matcher } from '../../src/l7/matcher.ts';
import { encodeRoutes } from '../../src/l7/encode.ts';
import { compileRegex, RegexUnsupportedError, MAX_INSTRUCTIONS } from '../../src/l7/regex.ts';
import type { RouteMatch } from '../../src/model/types.ts';
import { route, rule, sharedMatcher } from './fixtures.ts';

let matcher: L7Matcher;
const loadMatcher = async () => { matcher = await sharedMatcher(); };

function pathRegex(pattern: string): RouteMatch {
  return { path: { type: 'RegularExpression', value: pattern }, headers: [], queryParams: [] };
}
function headerRegex(pattern: string): RouteMatch {
  return { path: { type: 'PathPrefix', value: '/' }, headers: [{ type: 'RegularExpression', name: 'X-Value', value: pattern }], queryParams: [] };
}

/** Wasm verdict for `pattern` against `input`, as a path and as a header value (they must agree). */
function wasmMatches(pattern: string, input: string): boolean {
  const byPath = encodeRoutes([route('r', [rule([pathRegex(pattern)])])]);
  const byHeader = encodeRoutes([route('r', [rule([headerRegex(pattern)])])]);
  assert.equal(byPath.unsupported, [], `pattern ${pattern} is in the subset`);
  const a = matcher.match(byPath, { path: input }) !== null;
  const b = matcher.match(byHeader, { path: '/', headers: { 'x-value': input } }) !== null;
  assert.is(a, b, `path and header verdicts agree for ${pattern} on ${JSON.stringify(input)}`);
  return a;
}

/** The reference: JavaScript's RegExp, anchored at both ends (full match). */
function jsMatches(pattern: string, input: string, flags = ''): boolean {
  return new RegExp(`^(?:${pattern})$`, flags).test(input);
}

const PATTERNS = [
  '/api', '/api/.*', '/api/v[0-9]+/users', '/(foo|bar)/baz', '/a|/b', '/x?y', '/(ab)*', '/(ab)+c', '/a{2}', '/a{2,}', '/a{1,3}b',
  '/[a-z]+', '/[^/]+', '/[^/]+/[^/]+', '/\\d+', '/\\w+\\.json', '/\\s', '/\\S+', '/[\\d_-]+', '/files/.+\\.(png|jpe?g)',
  '^/anchored$', '/a(?:b|c)*d', '/(?<name>x+)', '/\\x41\\u0042', '/\\.\\*', '/[-a]', '/[a-]', '/[]x', '/[^]', '/(a*)*b', '/(|a)b',
  '/{', '/a{x}', '/a*?b', '/\\/', '/.', '/\\D\\W',
];
const INPUTS = [
  '/', '/api', '/api/', '/api/v1', '/api/v12/users', '/api/vx/users', '/foo/baz', '/bar/baz', '/baz/baz', '/a', '/b', '/y', '/xy',
  '/ab', '/abab', '/ababc', '/aa', '/aaa', '/aaab', '/ab', '/abc', '/a/b', '/123', '/12a', '/data.json', '/ ', '/\t', '/x y', '/1_2-3',
  '/files/a.png', '/files/a.jpg', '/files/a.jpeg', '/files/a.gif', '/anchored', '/abd', '/abcbd', '/xx', '/AB', '/.*', '/-', '/[]x',
  '/\n', '/aaaaab', '/{', '/a{x}', '/ab', '//', '/caf\u00e9', '/\u00e9', '/!%', '',
];

const differential = suite('l7 regex: Wasm Pike VM agrees with JavaScript full match');
differential.before(loadMatcher);
for (const pattern of PATTERNS) {
  differential(pattern, () => {
    for (const input of INPUTS) {
      assert.is(wasmMatches(pattern, input), jsMatches(pattern, input), `${pattern} on ${JSON.stringify(input)}`);
    }
  });
}
differential.run();

const utf8 = suite('l7 regex: UTF-8 aware dot and negated classes');
utf8.before(loadMatcher);
const utf8Cases: [string, string, boolean][] = [
  ['/caf.', '/caf\u00e9', true],
  ['/caf[^x]', '/caf\u00e9', true],
  ['/.', '/\u20ac', true],
  ['/.', '/\u{1f600}', true],
  ['/..', '/\u{1f600}', false],
  ['/\u00e9+', '/\u00e9\u00e9', true],
  ['/\\W', '/\u00e9', true],
];
for (const [pattern, input, want] of utf8Cases) {
  utf8(`${pattern} on ${input}`, () => {
    assert.is(wasmMatches(pattern, input), want);
    // The matcher works on characters, as JavaScript does in unicode mode (without it, a
    // character outside the BMP is two UTF-16 units).
    assert.is(jsMatches(pattern, input, 'u'), want, 'JavaScript (unicode mode) agrees');
  });
}
utf8.run();

const limits = suite('l7 regex: unsupported patterns and cost');
limits.before(loadMatcher);
const unsupportedCases: [string, RegExp][] = [
  ['/(a)\\1', /backreferences/],
  ['/(?=a)a', /lookaround/],
  ['/(?<!a)b', /lookaround/],
  ['/\\bword', /word boundaries/],
  ['/\\p{L}', /escape \\p/],
  ['/[\u00e9]', /non-ASCII/],
  ['/a{5000}', /too large|exceeds/],
  ['/(a{100}){100}', /exceeds/],
  ['*a', /nothing to repeat/],
  ['/a)', /unbalanced/],
  ['/(a', /missing "\)"/],
  ['/[a', /missing "\]"/],
];
for (const [pattern, why] of unsupportedCases) {
  limits(`unsupported: ${pattern}`, () => {
    assert.throws(() => compileRegex(pattern), (e: Error) => e instanceof RegexUnsupportedError && why.test(e.message));
    const enc = encodeRoutes([route('r', [rule([pathRegex(pattern)])])]);
    assert.is(enc.unsupported.length, 1);
    assert.match(enc.unsupported[0], /HTTPRoute default\/r: spec.rules\[0\].matches\[0\].path.value: .*never matches/);
    assert.is(matcher.match(enc, { path: '/aaaa' }), null, 'an unsupported match never matches');
  });
}
limits('a pattern that backtracking engines choke on runs in linear time', () => {
  const input = '/' + 'a'.repeat(20_000);
  const start = performance.now();
  assert.is(wasmMatches('/(a*)*b', input), false);
  assert.is(wasmMatches('/(a|aa)*c', input), false);
  assert.is(wasmMatches('/(a|aa)*', input), true);
  assert.ok(performance.now() - start < 2000, `took ${performance.now() - start} ms`);
});
limits('the largest allowed program compiles and runs', () => {
  const pattern = '/' + 'ab'.repeat((MAX_INSTRUCTIONS - 2) / 2);
  assert.ok(wasmMatches(pattern, pattern));
  assert.not.ok(wasmMatches(pattern, pattern + 'x'));
});
limits('regex path ranks below every PathPrefix, above nothing', () => {
  const enc = encodeRoutes([route('r', [rule([pathRegex('/.*')]), rule([{ path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }])])]);
  assert.is(matcher.match(enc, { path: '/x' })?.rule, 1);
  const onlyRegex = encodeRoutes([route('r', [rule([pathRegex('/x.*')])])]);
  assert.is(matcher.match(onlyRegex, { path: '/xyz' })?.rule, 0);
});
limits('a program with an out-of-range jump is rejected at load', () => {
  const enc = encodeRoutes([route('r', [rule([pathRegex('/a|/b')])])]);
  const bytes = enc.bytes.slice();
  const program = 8 + 4 + 8 + 16; // routes head, rule count, rule head, match head
  const v = new DataView(bytes.buffer);
  assert.is(v.getUint8(program + 4), 2, 'first instruction is a split');
  v.setUint16(program + 4 + 2, 0xffff, true);
  assert.throws(() => matcher.match({ ...enc, bytes }, { path: '/a' }), /malformed/);
});
limits.run();
