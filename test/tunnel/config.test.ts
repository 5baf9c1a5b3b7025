// The tunnel's configuration and SPIFFE ID handling: bad input names the field.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readTunnelConfig } from '../../src/tunnel/config.ts';
import { parseSpiffeId, peerSpiffeId, serverNameOf } from '../../src/tunnel/identity.ts';

const base = {
  node: 'n1',
  trustDomain: 'cluster.local',
  outbound: { addr: '10.0.0.1', port: 15001 },
  inbound: { addr: '10.0.0.1', port: 15008 },
  sources: { '4242': { identity: 'spiffe://cluster.local/ns/default/sa/web', addr: '10.1.0.5' } },
  destinations: { '10.2.0.7': { identity: 'spiffe://cluster.local/ns/shop/sa/api', node: { addr: '10.0.0.2', port: 15008 } } },
  local: { '10.1.0.9': { identity: 'spiffe://cluster.local/ns/default/sa/db', allowed: ['spiffe://cluster.local/ns/default/sa/web'] } },
};

const config = suite('tunnel config');

config('reads a valid configuration', () => {
  const c = readTunnelConfig(base, 'cfg');
  assert.is(c.sources.get('4242')!.identity, 'spiffe://cluster.local/ns/default/sa/web');
  assert.equal(c.destinations.get('10.2.0.7')!.node, { addr: '10.0.0.2', port: 15008 });
  assert.equal(c.local.get('10.1.0.9')!.allowed, ['spiffe://cluster.local/ns/default/sa/web']);
  assert.is(c.recordMaxAgeMs, 10_000);
});

const bad: Array<[string, Record<string, unknown>, RegExp]> = [
  ['an outbound port out of range', { outbound: { addr: '10.0.0.1', port: 70000 } }, /^cfg: outbound.port: expected a port/],
  ['an address that is no IPv4', { inbound: { addr: 'node-1', port: 1 } }, /^cfg: inbound.addr: "node-1" is not an IPv4 address/],
  ['a source key that is no cgroup id', { sources: { web: { identity: 'spiffe://cluster.local/ns/a/sa/b', addr: '10.1.0.5' } } }, /^cfg: sources: key "web" is not a cgroup id/],
  ['an identity of another trust domain', { destinations: { '10.2.0.7': { identity: 'spiffe://evil.example/ns/a/sa/b', node: { addr: '10.0.0.2', port: 1 } } } }, /destinations.10.2.0.7.identity: "spiffe:\/\/evil.example\/ns\/a\/sa\/b" is not in trust domain cluster.local/],
  ['an allowed entry that is no SPIFFE ID', { local: { '10.1.0.9': { identity: 'spiffe://cluster.local/ns/a/sa/b', allowed: ['web'] } } }, /local.10.1.0.9.allowed\[0\]: "web" is not a SPIFFE ID/],
  ['an allowed list missing', { local: { '10.1.0.9': { identity: 'spiffe://cluster.local/ns/a/sa/b' } } }, /local.10.1.0.9.allowed: expected a list/],
];
for (const [what, patch, error] of bad) {
  config(`refuses ${what}`, () => {
    assert.throws(() => readTunnelConfig({ ...base, ...patch }, 'cfg'), error);
  });
}
config.run();

const identity = suite('tunnel identity');

identity('a peer certificate speaks for its one SPIFFE URI SAN', () => {
  const cert = (subjectaltname: string) => ({ subjectaltname }) as unknown as Parameters<typeof peerSpiffeId>[0];
  assert.is(peerSpiffeId(cert('URI:spiffe://cluster.local/ns/default/sa/web')), 'spiffe://cluster.local/ns/default/sa/web');
  assert.is(peerSpiffeId(cert('DNS:web, URI:spiffe://cluster.local/ns/default/sa/web')), 'spiffe://cluster.local/ns/default/sa/web');
  assert.is(peerSpiffeId(cert('URI:spiffe://cluster.local/ns/a/sa/b, URI:spiffe://cluster.local/ns/a/sa/c')), undefined, 'two URI SANs');
  assert.is(peerSpiffeId(cert('URI:https://example.com/x')), undefined);
  assert.is(peerSpiffeId(cert('DNS:web')), undefined);
  assert.is(peerSpiffeId(undefined), undefined);
});

identity('server names and parts', () => {
  assert.is(serverNameOf('spiffe://cluster.local/ns/shop/sa/api'), 'api.shop.sa.cluster.local');
  assert.equal(parseSpiffeId('spiffe://td/ns/a/sa/b', 'x'), { trustDomain: 'td', namespace: 'a', serviceAccount: 'b' });
  assert.throws(() => parseSpiffeId('spiffe://td/ns/a', 'peer'), /^peer: "spiffe:\/\/td\/ns\/a" is not a SPIFFE ID/);
});
identity.run();
