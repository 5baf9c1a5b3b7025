// IPv4 and IPv6 addresses and CIDRs as numbers, without platform APIs (this runs in browsers too).

import type { Family } from './types.ts';

export interface Address {
  family: Family;
  value: bigint;
}

export interface Cidr {
  family: Family;
  /** The network address. */
  base: bigint;
  prefixLength: number;
  /** Number of addresses in the block. */
  size: bigint;
}

const IPV4_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parses a dotted-quad IPv4 address (no leading zeros, as Kubernetes requires). */
export function parseIPv4(text: string): bigint | undefined {
  const octets = text.split('.');
  if (octets.length !== 4) return undefined;
  let value = 0n;
  for (const octet of octets) {
    if (!IPV4_OCTET.test(octet) || Number(octet) > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

/** Parses an IPv6 address in any RFC 4291 text form, including `::` and a trailing IPv4 part. */
export function parseIPv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseIPv6Groups(halves[0]!);
  const tail = halves.length === 2 ? parseIPv6Groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

function parseIPv6Groups(text: string): number[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (const [index, part] of parts.entries()) {
    if (index === parts.length - 1 && part.includes('.')) {
      const v4 = parseIPv4(part);
      if (v4 === undefined) return undefined;
      groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else if (IPV6_GROUP.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

export function parseAddress(text: string): Address | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = text.includes(':') ? parseIPv6(text) : undefined;
  if (v6 !== undefined) return { family: 6, value: v6 };
  return undefined;
}

export function formatAddress(address: Address): string {
  return address.family === 4 ? formatIPv4(address.value) : formatIPv6(address.value);
}

function formatIPv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/** RFC 5952 form: lower case, the longest run (of two or more) of zero groups as `::`. */
function formatIPv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  const run = longestZeroRun(groups);
  const hex = groups.map((group) => group.toString(16));
  if (run.length < 2) return hex.join(':');
  return `${hex.slice(0, run.start).join(':')}::${hex.slice(run.start + run.length).join(':')}`;
}

function longestZeroRun(groups: number[]): { start: number; length: number } {
  let best = { start: 0, length: 0 };
  let start = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start > best.length) best = { start, length: i - start };
      start = -1;
    }
  }
  return best;
}

/** Parses `10.96.0.0/12` or `fd00::/108`. Host bits must be zero. */
export function parseCidr(text: string): Cidr | undefined {
  const [addressText, prefixText, ...rest] = text.split('/');
  if (rest.length > 0 || addressText === undefined || prefixText === undefined) return undefined;
  const address = parseAddress(addressText);
  if (!address || !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const bits = address.family === 4 ? 32 : 128;
  const prefixLength = Number(prefixText);
  if (prefixLength > bits) return undefined;
  const size = 1n << BigInt(bits - prefixLength);
  if (address.value % size !== 0n) return undefined;
  return { family: address.family, base: address.value, prefixLength, size };
}

export function cidrContains(cidr: Cidr, address: Address): boolean {
  return address.family === cidr.family && address.value >= cidr.base && address.value < cidr.base + cidr.size;
}

export function formatCidr(cidr: Cidr): string {
  return `${formatAddress({ family: cidr.family, value: cidr.base })}/${cidr.prefixLength}`;
}

/** Blocks no endpoint or ClusterIP may be in: the API server's ValidateNonSpecialIP, and more. */
const SPECIAL: readonly [Cidr, string][] = [
  ['0.0.0.0/32', 'is unspecified (0.0.0.0)'],
  ['::/128', 'is unspecified (::)'],
  ['127.0.0.0/8', 'is in the loopback range (127.0.0.0/8)'],
  ['::1/128', 'is the loopback address (::1)'],
  ['169.254.0.0/16', 'is in the link-local range (169.254.0.0/16)'],
  ['fe80::/10', 'is in the link-local range (fe80::/10)'],
  ['224.0.0.0/24', 'is in the link-local multicast range (224.0.0.0/24)'],
  ['255.255.255.255/32', 'is the broadcast address'],
  ['::ffff:0.0.0.0/96', 'is an IPv4-mapped IPv6 address (write the IPv4 address; no connect() to it can match)'],
].map(([text, why]) => [parseCidr(text!)!, why!]);

/** Why a connection can never be sent to `address` as an endpoint or a ClusterIP, or undefined. */
export function specialAddressProblem(address: Address): string | undefined {
  // IPv6 multicast of link-local scope: ff02::/16 with any flags (ffX2::/16), as Go's IsLinkLocalMulticast.
  if (address.family === 6 && ((address.value >> 112n) & 0xff0fn) === 0xff02n) return 'is in the link-local multicast range (ff02::/16)';
  return SPECIAL.find(([cidr]) => cidrContains(cidr, address))?.[1];
}
