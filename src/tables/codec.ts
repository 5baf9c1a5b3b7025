// Encodes and decodes map keys and values by the layouts in layouts.ts. Little-endian, as both
// the Wasm module and the kernel on x86-64/arm64 read them; address and port fields carry
// network-order bytes, which the helpers below produce.
import type { StructSpec } from './layouts.ts';
import { parseAddress } from '../model/ip.ts';

export type Row = Record<string, number | bigint>;

export function encode(spec: StructSpec, row: Row): Uint8Array {
  const bytes = new Uint8Array(spec.size);
  const view = new DataView(bytes.buffer);
  for (const field of spec.fields) {
    const value = row[field.name] ?? 0;
    switch (field.type) {
      case 'u8': view.setUint8(field.offset, Number(value)); break;
      case 'u16': view.setUint16(field.offset, Number(value), true); break;
      case 'u32': view.setUint32(field.offset, Number(value), true); break;
      case 'u64': view.setBigUint64(field.offset, BigInt(value), true); break;
    }
  }
  return bytes;
}

export function decode(spec: StructSpec, bytes: Uint8Array): Row {
  if (bytes.length < spec.size) throw new Error(`${spec.name}: ${bytes.length} bytes, need ${spec.size}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const row: Row = {};
  for (const field of spec.fields) {
    switch (field.type) {
      case 'u8': row[field.name] = view.getUint8(field.offset); break;
      case 'u16': row[field.name] = view.getUint16(field.offset, true); break;
      case 'u32': row[field.name] = view.getUint32(field.offset, true); break;
      case 'u64': row[field.name] = view.getBigUint64(field.offset, true); break;
    }
  }
  return row;
}

/** The addr0..addr3 words of an address: network-order bytes read as little-endian u32s. */
export function addressWords(ip: string): { addr0: number; addr1: number; addr2: number; addr3: number; family: 4 | 6 } {
  const address = parseAddress(ip);
  if (!address) throw new Error(`invalid IP address "${ip}"`);
  const bytes = new Uint8Array(16);
  const length = address.family === 4 ? 4 : 16;
  for (let i = 0; i < length; i++) {
    bytes[i] = Number((address.value >> BigInt(8 * (length - 1 - i))) & 0xffn);
  }
  const view = new DataView(bytes.buffer);
  return {
    addr0: view.getUint32(0, true),
    addr1: view.getUint32(4, true),
    addr2: view.getUint32(8, true),
    addr3: view.getUint32(12, true),
    family: address.family,
  };
}

/** The text form of addr0..addr3 words. */
export function wordsAddress(row: Row, family: number): string {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  ['addr0', 'addr1', 'addr2', 'addr3'].forEach((name, i) => view.setUint32(i * 4, Number(row[name] ?? 0), true));
  if (family === 4) return Array.from(bytes.subarray(0, 4)).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return compressIPv6(groups);
}

function compressIPv6(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

/** A port as the u16 field holds it: network byte order read little-endian. */
export function netPort(port: number): number {
  return ((port & 0xff) << 8) | ((port >> 8) & 0xff);
}

export const hostPort = netPort;

export function hex(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += byte.toString(16).padStart(2, '0');
  return text;
}
