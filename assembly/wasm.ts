// The host's view of policy.wasm: table writes, decisions, and a benchmark loop.
// Wasm only (never translated): the kernel gets the same tables through BPF map syscalls.
import { registry } from "./runtime/maps";
import { Decision, ServiceKey } from "./layouts";
import { decideWith } from "./policy";
import { decide } from "./entry";
import { mc_services } from "./maps";
import { VERDICT_PASS, VERDICT_TRANSLATE } from "./constants";

let scratch: usize = 0;
let scratchSize: usize = 0;

/** A buffer the host writes keys, values and decision inputs into. */
export function host_scratch(size: u32): usize {
  if (<usize>size > scratchSize) {
    if (scratch) heap.free(scratch);
    scratch = heap.alloc(<usize>size);
    scratchSize = <usize>size;
  }
  return scratch;
}

export function map_update(id: i32, key: usize, value: usize): i32 {
  return registry[id].updateRaw(key, value);
}

export function map_delete(id: i32, key: usize): i32 {
  return registry[id].deleteRaw(key) ? 0 : -2;
}

export function map_lookup(id: i32, key: usize): usize {
  return registry[id].lookupRaw(key);
}

export function map_clear(id: i32): void {
  registry[id].clear();
}

export function map_count(id: i32): u32 {
  return registry[id].count();
}

export function map_key_size(id: i32): u32 {
  return <u32>registry[id].keySize;
}

export function map_value_size(id: i32): u32 {
  return <u32>registry[id].valueSize;
}

export function mc_decide(key: usize, client: u64, rand: u32, now: u64, out: usize): u8 {
  return decide(changetype<ServiceKey>(key), client, rand, now, changetype<Decision>(out));
}

/** Decides with the weighted groups an L7 rule chose instead of the service's own. */
export function mc_decide_groups(
  key: usize, groups: u32, groupCount: u32, weightTotal: u32,
  client: u64, rand: u32, now: u64, out: usize,
): u8 {
  const svc = mc_services.lookup(changetype<ServiceKey>(key));
  const decision = changetype<Decision>(out);
  if (svc == null) {
    decision.verdict = VERDICT_PASS;
    return VERDICT_PASS;
  }
  return decideWith(svc, groups, groupCount, weightTotal, client, rand, now, decision);
}

/** xorshift32: the simulator's PRNG, seeded by the host. Never 0 for a non-zero seed. */
export function xorshift32(x: u32): u32 {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

/**
 * Runs `n` decisions for `key` with random inputs from `seed`, counting translations: the
 * benchmark's inner loop, kept in Wasm so it measures the policy rather than JS calls.
 */
export function bench_decide(key: usize, n: u32, seed: u32, out: usize): u32 {
  let state = seed | 1;
  let translated: u32 = 0;
  const svcKey = changetype<ServiceKey>(key);
  const decision = changetype<Decision>(out);
  for (let i: u32 = 0; i < n; i++) {
    state = xorshift32(state);
    const client = <u64>xorshift32(state ^ 0x5bd1e995);
    if (decide(svcKey, client, state, <u64>i * 1000, decision) == VERDICT_TRANSLATE) translated++;
  }
  return translated;
}
