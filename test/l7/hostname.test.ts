import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hostOf, hostnameMatches, hostnameRank, hostnameTiers } from '../../src/l7/hostname.ts';

const host = suite('l7 hostname: Host header and hostname matching');
const hostCases: [string, string][] = [
  ['example.com', 'example.com'],
  ['Example.COM:8080', 'example.com'],
  ['[::1]:80', '[::1]'],
  ['10.0.0.1:80', '10.0.0.1'],
];
for (const [header, want] of hostCases) host(`hostOf ${header}`, () => assert.is(hostOf(header), want));

const matchCases: [string, string, boolean][] = [
  ['example.com', 'example.com', true],
  ['Example.com', 'example.com', true],
  ['example.com', 'example.net', false],
  ['*.example.com', 'a.example.com', true],
  ['*.example.com', 'a.b.example.com', true],
  ['*.example.com', 'example.com', false],
  ['*.example.com', 'aexample.com', false],
];
for (const [pattern, h, want] of matchCases) host(`${pattern} vs ${h}`, () => assert.is(hostnameMatches(pattern, h), want));
host.run();

const tiers = suite('l7 hostname: precedence tiers (fact 18)');
tiers('rank: longest exact, then longest any; none listed matches all', () => {
  assert.equal(hostnameRank([], 'x.example.com'), { exact: 0, any: 0 });
  assert.equal(hostnameRank(['*.example.com', 'x.example.com'], 'x.example.com'), { exact: 13, any: 13 });
  assert.equal(hostnameRank(['*.example.com'], 'x.example.com'), { exact: 0, any: 13 });
  assert.is(hostnameRank(['other.com'], 'x.example.com'), null);
  assert.is(hostnameRank(['example.com'], null), null);
});
tiers('routes are grouped most specific first; non-matching routes are dropped', () => {
  const routes = [
    { n: 'any', h: [] as string[] },
    { n: 'wild', h: ['*.example.com'] },
    { n: 'exact', h: ['a.example.com'] },
    { n: 'exact2', h: ['a.example.com', 'b.example.com'] },
    { n: 'other', h: ['example.net'] },
    { n: 'wild-long', h: ['*.a.example.com'] },
  ];
  const got = hostnameTiers(routes, (r) => r.h, 'a.example.com:80').map((t) => t.map((r) => r.n));
  assert.equal(got, [['exact', 'exact2'], ['wild'], ['any']]);
  const deeper = hostnameTiers(routes, (r) => r.h, 'x.a.example.com').map((t) => t.map((r) => r.n));
  assert.equal(deeper, [['wild-long'], ['wild'], ['any']]);
});
tiers.run();
