import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cidrContains, formatAddress, parseAddress, parseCidr } from '../../src/model/ip.ts';
import { AddressAllocator } from '../../src/model/address-allocator.ts';

const addresses = suite('ip: parse and format addresses');

const valid: [string, 4 | 6, string][] = [
  ['10.96.0.1', 4, '10.96.0.1'],
  ['0.0.0.0', 4, '0.0.0.0'],
  ['255.255.255.255', 4, '255.255.255.255'],
  ['::', 6, '::'],
  ['::1', 6, '::1'],
  ['fd00::10', 6, 'fd00::10'],
  ['FD00:0:0:0:0:0:0:10', 6, 'fd00::10'],
  ['2001:db8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1'],
  ['2001:0db8:0000:0000:0000:ff00:0042:8329', 6, '2001:db8::ff00:42:8329'],
  ['::ffff:10.1.2.3', 6, '::ffff:a01:203'],
  ['1:2:3:4:5:6:7:8', 6, '1:2:3:4:5:6:7:8'],
];
for (const [text, family, canonical] of valid) {
  addresses(`${text} is IPv${family}, written ${canonical}`, () => {
    const address = parseAddress(text);
    assert.ok(address);
    assert.is(address.family, family);
    assert.is(formatAddress(address), canonical);
  });
}

const invalid = ['10.96.0.300', '10.96.0', '10.96.0.1.2', '010.1.1.1', '1.2.3.-4', '', 'abc', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'fe80::1%eth0', '1:2:3:4:5:6:7::8:9'];
for (const text of invalid) {
  addresses(`${JSON.stringify(text)} is not an address`, () => {
    assert.is(parseAddress(text), undefined);
  });
}

const cidrs = suite('ip: CIDRs');

cidrs('10.96.0.0/12 holds 2^20 addresses and contains 10.111.255.255 but not 10.112.0.0', () => {
  const cidr = parseCidr('10.96.0.0/12');
  assert.ok(cidr);
  assert.is(cidr.size, 1n << 20n);
  assert.ok(cidrContains(cidr, parseAddress('10.111.255.255')!));
  assert.not.ok(cidrContains(cidr, parseAddress('10.112.0.0')!));
  assert.not.ok(cidrContains(cidr, parseAddress('fd00::1')!));
});

cidrs('rejects host bits, bad prefixes and garbage', () => {
  for (const text of ['10.96.0.1/12', '10.96.0.0/33', '10.96.0.0', '10.96.0.0/x', 'fd00::/129', '/8']) {
    assert.is(parseCidr(text), undefined, text);
  }
  assert.ok(parseCidr('fd00::/108'));
});

const allocator = suite('ip: deterministic allocation');

allocator('never hands out the network, first or broadcast address, nor one twice', () => {
  const cidr = parseCidr('10.0.0.0/29')!; // 8 addresses, 5 usable: .2 to .6
  const pool = new AddressAllocator(cidr);
  const given = Array.from({ length: 5 }, (_, i) => pool.allocate(`svc-${i}`));
  assert.equal([...given].sort(), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  assert.is(pool.allocate('one-too-many'), undefined);
});

allocator('the same key gets the same address in a fresh allocator; a reserved address is skipped', () => {
  const cidr = parseCidr('10.96.0.0/12')!;
  const first = new AddressAllocator(cidr).allocate('default/product-api');
  assert.is(new AddressAllocator(cidr).allocate('default/product-api'), first);
  const pool = new AddressAllocator(cidr);
  pool.reserve(parseAddress(first!)!.value);
  const second = pool.allocate('default/product-api');
  assert.ok(second);
  assert.is.not(second, first);
});

allocator('allocates IPv6 addresses inside an IPv6 CIDR', () => {
  const cidr = parseCidr('fd00:10:96::/112')!;
  const ip = new AddressAllocator(cidr).allocate('default/web')!;
  const address = parseAddress(ip)!;
  assert.is(address.family, 6);
  assert.ok(cidrContains(cidr, address));
});

addresses.run();
cidrs.run();
allocator.run();
