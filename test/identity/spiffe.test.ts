// SPIFFE IDs: parse and format per the SPIFFE ID standard, and meshc's ServiceAccount shape.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatSpiffeId, parseServiceAccountId, parseSpiffeId, serviceAccountSpiffeId } from '../../src/identity/spiffe.ts';

const parse = suite('parseSpiffeId');

const valid: [string, string, string][] = [
  ['spiffe://cluster.local/ns/default/sa/web', 'cluster.local', '/ns/default/sa/web'],
  ['spiffe://example.org', 'example.org', ''],
  ['spiffe://a_b-c.9/x.y/Z_1-2', 'a_b-c.9', '/x.y/Z_1-2'],
];
for (const [text, trustDomain, path] of valid) {
  parse(`accepts ${text}`, () => {
    assert.equal(parseSpiffeId(text), { trustDomain, path });
    assert.is(formatSpiffeId({ trustDomain, path }), text);
  });
}

const invalid: [string, RegExp][] = [
  ['SPIFFE://example.org/x', /scheme/],
  ['https://example.org/x', /scheme/],
  ['spiffe://', /trust domain is empty/],
  ['spiffe:///x', /trust domain is empty/],
  ['spiffe://Example.org/x', /lowercase/],
  ['spiffe://example.org:8443/x', /no port/],
  ['spiffe://user@example.org/x', /no port, user/],
  ['spiffe://example.org/', /must not end with "\/"/],
  ['spiffe://example.org//x', /empty segment/],
  ['spiffe://example.org/a/../b', /"\.\." segment/],
  ['spiffe://example.org/a/./b', /"\." segment/],
  ['spiffe://example.org/a?b=c', /query or fragment/],
  ['spiffe://example.org/a#b', /query or fragment/],
  ['spiffe://example.org/a%20b', /percent-encoding/],
  ['spiffe://example.org/a b', /may hold only letters/],
  [`spiffe://example.org/${'a'.repeat(2048)}`, /longer than 2048/],
  [`spiffe://${'a'.repeat(256)}/x`, /longer than 255/],
];
for (const [text, why] of invalid) {
  parse(`rejects ${text.slice(0, 40)}`, () => {
    assert.throws(() => parseSpiffeId(text), why);
  });
}
parse.run();

const sa = suite('ServiceAccount IDs');

sa('formats and parses back', () => {
  const id = serviceAccountSpiffeId('cluster.local', 'shop', 'api-server');
  assert.is(id, 'spiffe://cluster.local/ns/shop/sa/api-server');
  assert.equal(parseServiceAccountId(id), { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'api-server' });
});

sa('refuses names Kubernetes would not have, and other paths', () => {
  assert.throws(() => serviceAccountSpiffeId('cluster.local', 'Shop', 'api'), /namespace "Shop" is not a Kubernetes namespace name/);
  assert.throws(() => serviceAccountSpiffeId('cluster.local', 'shop', 'a/b'), /ServiceAccount "a\/b" is not a Kubernetes object name/);
  assert.throws(() => serviceAccountSpiffeId('Cluster', 'shop', 'api'), /lowercase/);
  assert.throws(() => parseServiceAccountId('spiffe://cluster.local/workload/api'), /not a ServiceAccount identity/);
});

sa.run();
