// Encodes and decodes map keys, values and records by their generated layouts (src/generated/).
// Little-endian, as both the Wasm module and the kernel on x86-64/arm64 read them; address and
// port fields carry network-order bytes, which the helpers below produce.
import type { FieldSpec, StructSpec } from '../generated/layouts.ts';
import { parseAddress } from '../model/ip.ts';

export type Value = number | bigint | string | Row | Value[];
export type Row = { [field: string]: Value };

type Scalar<F> = F extends { type: 'u64' } ? bigint : F extends { type: 'struct'; spec: infer S extends StructSpec } ? RowOf<S> : number;
type FieldValue<F> = F extends { type: 'char' } ? string : F extends { count: number } ? Scalar<F>[] : Scalar<F>;

/** The decoded form of a layout: one property per field (u64 as bigint, char[] as text). */
export type RowOf<S extends StructSpec> = { [F in S['fields'][number] as F['name']]: FieldValue<F> };

type InputScalar<F> = F extends { type: 'u64' } ? bigint | number : F extends { type: 'struct'; spec: infer S extends StructSpec } ? RowInput<S> : number;
type InputValue<F> = F extends { type: 'char' } ? string : F extends { count: number } ? InputScalar<F>[] : InputScalar<F>;

/** A row to encode: absent fields (at any depth) are zero. */
export type RowInput<S extends StructSpec> = { [F in S['fields'][number] as F['name']]?: InputValue<F> };

/** The byte offset of field `name` of `spec` (a harness slot's fields, for tests and benchmarks). */
export function fieldOffset<S extends StructSpec>(spec: S, name: S['fields'][number]['name']): number {
  const field = spec.fields.find((f) => f.name === name);
  if (!field) throw new Error(`${spec.name}: no field ${name}`);
  return field.offset;
}

export function encode<S extends StructSpec>(spec: S, row: RowInput<S>): Uint8Array {
  const bytes = new Uint8Array(spec.size);
  encodeInto(spec, row as Row, new DataView(bytes.buffer), 0);
  return bytes;
}

export function decode<S extends StructSpec>(spec: S, bytes: Uint8Array): RowOf<S> {
  if (bytes.length < spec.size) throw new Error(`${spec.name}: ${bytes.length} bytes, need ${spec.size}`);
  return decodeFrom(spec, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0) as RowOf<S>;
}

// One of each for every row: constructing them per char field made decoding names slow.
const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder();

const WIDTH = { u8: 1, u16: 2, u32: 4, u64: 8, char: 1 } as const;

function elementSize(field: FieldSpec): number {
  return field.type === 'struct' ? field.spec!.size : WIDTH[field.type];
}

/** The bytes field `field` takes in its struct (all its elements). */
export function fieldBytes(field: FieldSpec): number {
  return elementSize(field) * (field.count ?? 1);
}

function encodeInto(spec: StructSpec, row: Row, view: DataView, base: number): void {
  for (const field of spec.fields) {
    const value = row[field.name];
    if (value === undefined) continue;
    const at = base + field.offset;
    if (field.type === 'char') {
      const text = UTF8_ENCODER.encode(String(value)).subarray(0, field.count! - 1);
      new Uint8Array(view.buffer, view.byteOffset + at, text.length).set(text);
    } else if (field.count === undefined) {
      encodeElement(field, value, view, at);
    } else {
      if (!Array.isArray(value)) throw new Error(`${spec.name}.${field.name}: an array of ${field.count}`);
      value.slice(0, field.count).forEach((v, i) => encodeElement(field, v, view, at + i * elementSize(field)));
    }
  }
}

function encodeElement(field: FieldSpec, value: Value, view: DataView, at: number): void {
  switch (field.type) {
    case 'u8': view.setUint8(at, Number(value)); break;
    case 'u16': view.setUint16(at, Number(value), true); break;
    case 'u32': view.setUint32(at, Number(value), true); break;
    case 'u64': view.setBigUint64(at, BigInt(value as number | bigint), true); break;
    case 'struct': encodeInto(field.spec!, value as Row, view, at); break;
    case 'char': break;
  }
}

function decodeFrom(spec: StructSpec, view: DataView, base: number): Row {
  const row: Row = {};
  for (const field of spec.fields) {
    const at = base + field.offset;
    if (field.type === 'char') {
      const bytes = new Uint8Array(view.buffer, view.byteOffset + at, field.count!);
      const end = bytes.indexOf(0);
      row[field.name] = UTF8_DECODER.decode(bytes.subarray(0, end < 0 ? bytes.length : end));
    } else if (field.count === undefined) {
      row[field.name] = decodeElement(field, view, at);
    } else {
      row[field.name] = Array.from({ length: field.count }, (_, i) => decodeElement(field, view, at + i * elementSize(field)));
    }
  }
  return row;
}

function decodeElement(field: FieldSpec, view: DataView, at: number): Value {
  switch (field.type) {
    case 'u8': return view.getUint8(at);
    case 'u16': return view.getUint16(at, true);
    case 'u32': return view.getUint32(at, true);
    case 'u64': return view.getBigUint64(at, true);
    case 'struct': return decodeFrom(field.spec!, view, at);
    case 'char': return view.getUint8(at);
  }
}

/** The `addr` words of an address: network-order bytes read as little-endian u32s. */
export function addressWords(ip: string): { addr: number[]; family: 4 | 6 } {
  const address = parseAddress(ip);
  if (!address) throw new Error(`invalid IP address "${ip}"`);
  const bytes = new Uint8Array(16);
  const length = address.family === 4 ? 4 : 16;
  for (let i = 0; i < length; i++) {
    bytes[i] = Number((address.value >> BigInt(8 * (length - 1 - i))) & 0xffn);
  }
  const view = new DataView(bytes.buffer);
  return { addr: Array.from({ length: 4 }, (_, i) => view.getUint32(i * 4, true)), family: address.family };
}

/** The text form of `addr` words. */
export function wordsAddress(row: { addr: readonly number[] }, family: number): string {
  if (family === 4) {
    const word = row.addr[0]!;
    return `${word & 255}.${(word >>> 8) & 255}.${(word >>> 16) & 255}.${word >>> 24}`;
  }
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  row.addr.forEach((word, i) => view.setUint32(i * 4, word, true));
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
