// RequestHeaderModifier and ResponseHeaderModifier: applies up to two header edits (the rule's,
// then the picked backendRef's) to the headers of the last checked request, or to a header list
// the host gives (a response's), over the buffers described in layout.ts. Each edit sets (every
// value of the name replaced by one), then adds (one more value), then removes. Header names
// compare case-insensitively (ASCII).

import { EDITS_MAGIC } from "./layout";
import { requestBase, requestHeaders, requestHeaderCount } from "./matcher";

@inline function u16At(p: usize): u32 { return <u32>load<u16>(p); }

@inline function lower(c: u8): u8 { return c >= 0x41 && c <= 0x5a ? c + 0x20 : c; }

function sameName(a: usize, aLen: u32, b: usize, bLen: u32): bool {
  if (aLen != bLen) return false;
  for (let i: u32 = 0; i < aLen; i++) {
    if (lower(load<u8>(a + <usize>i)) != lower(load<u8>(b + <usize>i))) return false;
  }
  return true;
}

/** Start of each edit record, filled by checkEdits. */
let editStarts = new Array<usize>(0);

function entriesEnd(p: usize, end: usize, count: u32, withValue: bool): usize {
  for (let k: u32 = 0; k < count; k++) {
    if (p + 2 > end) return 0;
    p += 2 + <usize>u16At(p);
    if (!withValue) continue;
    if (p + 2 > end) return 0;
    p += 2 + <usize>u16At(p);
  }
  return p <= end ? p : 0;
}

/** Structural check of an edits buffer; records where each edit starts. */
export function checkEdits(base: usize, len: u32): bool {
  editStarts = new Array<usize>(0);
  if (len < 8 || load<u32>(base) != EDITS_MAGIC) return false;
  const end = base + <usize>len;
  const count = load<u32>(base + 4);
  let p = base + 8;
  for (let e: u32 = 0; e < count; e++) {
    if (p + 8 > end) return false;
    editStarts.push(p);
    const sets = u16At(p);
    const adds = u16At(p + 2);
    const removes = u16At(p + 4);
    p = entriesEnd(p + 8, end, sets + adds, true);
    if (p == 0) return false;
    p = entriesEnd(p, end, removes, false);
    if (p == 0) return false;
  }
  return p == end;
}

export function editCount(): i32 { return editStarts.length; }

// The working header list: name and value (absolute address, length), four u32 per header.
let work = new Array<u32>(0);

function removeName(name: usize, nameLen: u32): void {
  let kept = new Array<u32>(0);
  for (let i = 0; i < work.length; i += 4) {
    if (sameName(<usize>work[i], work[i + 1], name, nameLen)) continue;
    kept.push(work[i]); kept.push(work[i + 1]); kept.push(work[i + 2]); kept.push(work[i + 3]);
  }
  work = kept;
}

function push(name: usize, nameLen: u32, value: usize, valueLen: u32): void {
  work.push(<u32>name); work.push(nameLen); work.push(<u32>value); work.push(valueLen);
}

function applyEdit(p: usize): void {
  const sets = u16At(p);
  const adds = u16At(p + 2);
  const removes = u16At(p + 4);
  let q = p + 8;
  for (let k: u32 = 0; k < sets + adds; k++) {
    const nameLen = u16At(q);
    const name = q + 2;
    q = name + <usize>nameLen;
    const valueLen = u16At(q);
    const value = q + 2;
    q = value + <usize>valueLen;
    if (k < sets) removeName(name, nameLen);
    push(name, nameLen, value, valueLen);
  }
  for (let k: u32 = 0; k < removes; k++) {
    const nameLen = u16At(q);
    removeName(q + 2, nameLen);
    q += 2 + <usize>nameLen;
  }
}

let result = new ArrayBuffer(0);
let resultLen: u32 = 0;

export function resultAddress(): usize { return changetype<usize>(result); }
export function resultLength(): u32 { return resultLen; }

/** Edits `first` then `second` (-1: none) applied to the checked request's headers; false if out of range. */
export function editRequest(first: i32, second: i32): bool {
  if (first >= editStarts.length || second >= editStarts.length) return false;
  work = new Array<u32>(0);
  const base = requestBase();
  const table = requestHeaders();
  for (let k: u32 = 0; k < requestHeaderCount(); k++) {
    const rec = table + <usize>(k * 16);
    push(base + <usize>load<u32>(rec), load<u32>(rec + 4), base + <usize>load<u32>(rec + 8), load<u32>(rec + 12));
  }
  return finish(first, second);
}

/**
 * Edits `first` then `second` applied to the header list at `base` (`len` bytes, the result
 * layout: u32 count, count x (u16 nameLen, name, u16 valueLen, value)); false if it is malformed
 * or an index is out of range.
 */
export function editList(first: i32, second: i32, base: usize, len: u32): bool {
  if (first >= editStarts.length || second >= editStarts.length || len < 4) return false;
  work = new Array<u32>(0);
  const end = base + <usize>len;
  let p = base + 4;
  for (let k: u32 = load<u32>(base); k > 0; k--) {
    if (p + 2 > end) return false;
    const nameLen = u16At(p);
    const name = p + 2;
    p = name + <usize>nameLen;
    if (p + 2 > end) return false;
    const valueLen = u16At(p);
    const value = p + 2;
    p = value + <usize>valueLen;
    if (p > end) return false;
    push(name, nameLen, value, valueLen);
  }
  if (p != end) return false;
  return finish(first, second);
}

function finish(first: i32, second: i32): bool {
  if (first >= 0) applyEdit(editStarts[first]);
  if (second >= 0) applyEdit(editStarts[second]);
  let size: u32 = 4;
  for (let i = 0; i < work.length; i += 4) size += 4 + work[i + 1] + work[i + 3];
  if (<u32>result.byteLength < size) result = new ArrayBuffer(<i32>size);
  const out = changetype<usize>(result);
  store<u32>(out, work.length / 4);
  let o = out + 4;
  for (let i = 0; i < work.length; i += 4) {
    store<u16>(o, <u16>work[i + 1]);
    memory.copy(o + 2, <usize>work[i], <usize>work[i + 1]);
    o += 2 + <usize>work[i + 1];
    store<u16>(o, <u16>work[i + 3]);
    memory.copy(o + 2, <usize>work[i + 2], <usize>work[i + 3]);
    o += 2 + <usize>work[i + 3];
  }
  resultLen = size;
  return true;
}
