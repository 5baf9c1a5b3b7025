// Runs regex programs (layout.ts) as a Pike VM: all NFA threads advance together one input byte
// at a time, so matching costs O(input length x program length) whatever the pattern. Programs
// are checked once when the routes are loaded; scratch space is sized then, never per request.

import {
  RX_HEAD_BYTES, RX_INSTR_BYTES, RX_CLASS_BYTES,
  OP_BYTE, OP_CLASS, OP_SPLIT, OP_JUMP, OP_MATCH, OP_BEGIN, OP_END,
} from "./layout";

// Four u32 arrays of `scratchCapacity` entries: current threads, next threads, marks, work stack.
let scratch = new ArrayBuffer(0);
let scratchCapacity: u32 = 0;
let generation: u32 = 0;

/** Instruction count of a well-formed program, or -1 when it is malformed. */
export function checkProgram(p: usize, len: u32): i32 {
  if (len < RX_HEAD_BYTES) return -1;
  const n = <u32>load<u16>(p);
  const k = <u32>load<u16>(p + 2);
  if (RX_HEAD_BYTES + n * RX_INSTR_BYTES + k * RX_CLASS_BYTES != len) return -1;
  const code = p + <usize>RX_HEAD_BYTES;
  for (let pc: u32 = 0; pc < n; pc++) {
    const ins = code + <usize>(pc * RX_INSTR_BYTES);
    const op = load<u8>(ins);
    const x = <u32>load<u16>(ins + 2);
    const y = <u32>load<u16>(ins + 4);
    if (op == OP_MATCH) continue;
    if (op == OP_JUMP) { if (x >= n) return -1; continue; }
    if (op == OP_SPLIT) { if (x >= n || y >= n) return -1; continue; }
    if (op == OP_CLASS && x >= k) return -1;
    if (op > OP_END) return -1;
    if (pc + 1 >= n) return -1; // BYTE, CLASS, BEGIN and END fall through to pc + 1
  }
  return <i32>n;
}

/** Makes room for programs of up to `n` instructions. Called at load time. */
export function reserveScratch(n: u32): void {
  if (n <= scratchCapacity) return;
  scratch = new ArrayBuffer(<i32>(n * 16));
  scratchCapacity = n;
  generation = 0;
}

@inline function nextGeneration(): void {
  generation++;
  if (generation == 0) {
    memory.fill(changetype<usize>(scratch) + <usize>(scratchCapacity * 8), 0, <usize>(scratchCapacity * 4));
    generation = 1;
  }
}

/**
 * Adds thread `start` at input position `pos` and every thread reachable from it without
 * consuming input to `list` (which holds `count` entries); returns the new count.
 */
function addThread(code: usize, list: usize, count: u32, start: u32, pos: u32, len: u32): u32 {
  const marks = changetype<usize>(scratch) + <usize>(scratchCapacity * 8);
  const stack = changetype<usize>(scratch) + <usize>(scratchCapacity * 12);
  let top: u32 = 0;
  if (load<u32>(marks + <usize>(start << 2)) == generation) return count;
  store<u32>(marks + <usize>(start << 2), generation);
  store<u32>(stack, start);
  top = 1;
  while (top > 0) {
    top--;
    const pc = load<u32>(stack + <usize>(top << 2));
    const ins = code + <usize>(pc * RX_INSTR_BYTES);
    const op = load<u8>(ins);
    let a: u32 = 0xffffffff;
    let b: u32 = 0xffffffff;
    if (op == OP_JUMP) a = <u32>load<u16>(ins + 2);
    else if (op == OP_SPLIT) { a = <u32>load<u16>(ins + 4); b = <u32>load<u16>(ins + 2); }
    else if (op == OP_BEGIN) { if (pos == 0) a = pc + 1; }
    else if (op == OP_END) { if (pos == len) a = pc + 1; }
    else { store<u32>(list + <usize>(count << 2), pc); count++; }
    // Push y before x so x is explored first (the order does not change the answer).
    if (a != 0xffffffff && load<u32>(marks + <usize>(a << 2)) != generation) {
      store<u32>(marks + <usize>(a << 2), generation);
      store<u32>(stack + <usize>(top << 2), a);
      top++;
    }
    if (b != 0xffffffff && load<u32>(marks + <usize>(b << 2)) != generation) {
      store<u32>(marks + <usize>(b << 2), generation);
      store<u32>(stack + <usize>(top << 2), b);
      top++;
    }
  }
  return count;
}

/** Whether the program (checked, within scratch capacity) accepts the whole of `s`. */
export function regexMatches(p: usize, s: usize, len: u32): bool {
  const n = <u32>load<u16>(p);
  if (n == 0 || n > scratchCapacity) return false;
  const code = p + <usize>RX_HEAD_BYTES;
  const sets = code + <usize>(n * RX_INSTR_BYTES);
  let cur = changetype<usize>(scratch);
  let next = cur + <usize>(scratchCapacity * 4);
  nextGeneration();
  let count = addThread(code, cur, 0, 0, 0, len);
  for (let pos: u32 = 0; pos < len; pos++) {
    if (count == 0) return false;
    const c = <u32>load<u8>(s + <usize>pos);
    nextGeneration();
    let nextCount: u32 = 0;
    for (let t: u32 = 0; t < count; t++) {
      const pc = load<u32>(cur + <usize>(t << 2));
      const ins = code + <usize>(pc * RX_INSTR_BYTES);
      const op = load<u8>(ins);
      let ok = false;
      if (op == OP_BYTE) ok = <u32>load<u8>(ins + 1) == c;
      else if (op == OP_CLASS) {
        const set = sets + <usize>(<u32>load<u16>(ins + 2) * RX_CLASS_BYTES);
        ok = ((<u32>load<u8>(set + <usize>(c >> 3)) >> (c & 7)) & 1) != 0;
      }
      if (ok) nextCount = addThread(code, next, nextCount, pc + 1, pos + 1, len);
    }
    const swap = cur;
    cur = next;
    next = swap;
    count = nextCount;
  }
  for (let t: u32 = 0; t < count; t++) {
    const pc = load<u32>(cur + <usize>(t << 2));
    if (load<u8>(code + <usize>(pc * RX_INSTR_BYTES)) == OP_MATCH) return true;
  }
  return false;
}
