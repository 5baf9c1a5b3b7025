// Header edits for the Wasm L7 matcher (assembly/l7/edit.ts): encodes a list of HeaderEdits
// (layout in assembly/l7/layout.ts) and applies two of them to the request that the same
// instance matched last (RequestHeaderModifier) or to a given header list (ResponseHeaderModifier).

import type { HeaderEdits } from '../model/types.ts';
import type { PolicyInstance } from '../wasm/instance.ts';

export const EDITS_MAGIC = 0x3145374c; // "L7E1"

export interface EncodedEdits {
  bytes: Uint8Array;
  count: number;
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

function u16Field(b: Uint8Array, what: string): Uint8Array {
  if (b.length > 0xffff) throw new Error(`${what}: ${b.length} bytes is longer than the matcher's limit of 65535`);
  return b;
}

export function encodeEdits(edits: readonly HeaderEdits[]): EncodedEdits {
  const parts: number[] = [];
  const u16 = (v: number) => parts.push(v & 0xff, v >> 8);
  const str = (s: string, what: string) => {
    const b = u16Field(utf8.encode(s), what);
    u16(b.length);
    parts.push(...b);
  };
  for (const e of edits) {
    u16(e.set.length); u16(e.add.length); u16(e.remove.length); u16(0);
    for (const h of [...e.set, ...e.add]) { str(h.name, 'header name'); str(h.value, `header ${h.name} value`); }
    for (const name of e.remove) str(name, 'header name');
  }
  const out = new Uint8Array(8 + parts.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, EDITS_MAGIC, true);
  v.setUint32(4, edits.length, true);
  out.set(parts, 8);
  return { bytes: out, count: edits.length };
}

const loadedEdits = new WeakMap<PolicyInstance, EncodedEdits>();

function load(instance: PolicyInstance, edits: EncodedEdits): void {
  if (loadedEdits.get(instance) === edits) return;
  const wasm = instance.exports;
  const ptr = wasm.l7_edits_buffer(edits.bytes.length);
  instance.bytes().set(edits.bytes, ptr);
  if (wasm.l7_load_edits(edits.bytes.length) !== 1) throw new Error('l7 matcher: the header edits buffer was rejected as malformed');
  loadedEdits.set(instance, edits);
}

function result(instance: PolicyInstance): [string, string][] {
  const wasm = instance.exports;
  const at = wasm.l7_edit_result();
  const bytes = instance.bytes().slice(at, at + wasm.l7_edit_result_len());
  const v = new DataView(bytes.buffer);
  const headers: [string, string][] = [];
  let p = 4;
  const str = () => {
    const n = v.getUint16(p, true);
    const s = text.decode(bytes.subarray(p + 2, p + 2 + n));
    p += 2 + n;
    return s;
  };
  for (let k = v.getUint32(0, true); k > 0; k--) headers.push([str(), str()]);
  return headers;
}

/**
 * The headers of the request last matched on `instance` after edits `first` then `second`
 * (indexes into `edits`, -1 for none), as [name, value] in order.
 */
export function editRequestHeaders(instance: PolicyInstance, edits: EncodedEdits, first: number, second: number): [string, string][] {
  load(instance, edits);
  if (instance.exports.l7_edit_request(first, second) !== 1) throw new Error(`l7 matcher: header edits ${first}, ${second} not applied (out of range)`);
  return result(instance);
}

/** `headers` after edits `first` then `second` (-1 for none), as [name, value] in order. */
export function editHeaderList(instance: PolicyInstance, edits: EncodedEdits, first: number, second: number, headers: readonly [string, string][]): [string, string][] {
  load(instance, edits);
  const parts: number[] = [];
  for (const [name, value] of headers) {
    for (const s of [name, value]) {
      const b = u16Field(utf8.encode(s), `header ${name}`);
      parts.push(b.length & 0xff, b.length >> 8, ...b);
    }
  }
  const list = new Uint8Array(4 + parts.length);
  new DataView(list.buffer).setUint32(0, headers.length, true);
  list.set(parts, 4);
  const ptr = instance.exports.l7_headers_buffer(list.length);
  instance.bytes().set(list, ptr);
  if (instance.exports.l7_edit_headers(first, second, list.length) !== 1) throw new Error(`l7 matcher: header edits ${first}, ${second} not applied to the header list`);
  return result(instance);
}
