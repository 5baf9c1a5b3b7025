// The load-balancing policy: one decision per connect() (or per request, behind an L7 match).
// Written in the translatable subset (docs/policy-subset.md): this file becomes BPF C.
// Randomness and time are arguments, so the kernel and Wasm decide alike on the same inputs.
import {
  AffinityKey, AffinityValue, Decision, GroupKey, ServiceKey, ServiceValue, SlotRange, TableKey,
} from "./layouts";
import {
  ALG_LEAST_CONN, ALG_MAGLEV, ALG_ROUND_ROBIN, BACKEND_EMPTY, GROUP_F_INVALID, MAGLEV_RING,
  MAX_GROUPS, REASON_INVALID_BACKEND, REASON_NO_ENDPOINTS, REASON_NO_LOCAL_ENDPOINTS,
  REASON_NONE, REASON_TABLE_MISS, SVC_F_AFFINITY, SVC_F_LOCAL, SVC_F_PREFER_ZONE,
  VERDICT_PASS, VERDICT_REFUSE, VERDICT_TRANSLATE,
} from "./constants";
import {
  mc_affinity, mc_backends, mc_conns, mc_groups, mc_maglev, mc_members, mc_rr, mc_services,
  mc_slots,
} from "./maps";
import { stackalloc } from "./runtime/stack";

/** murmur3's 32-bit finaliser: spreads every input bit over the output. */
export function mix32(x: u32): u32 {
  let h = x;
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

/** A 32-bit hash of a 64-bit client identity, for Maglev. */
export function hashClient(client: u64): u32 {
  return mix32(<u32>client ^ mix32(<u32>(client >> 32)));
}

function refuse(out: Decision, reason: u8): u8 {
  out.verdict = VERDICT_REFUSE;
  out.reason = reason;
  return VERDICT_REFUSE;
}

/**
 * Which slots of a pool may be used. Slots are ordered by the host: ready endpoints first, then
 * serving-terminating ones; inside each, this node's endpoints first, then the rest of its zone.
 * Serving-terminating endpoints are used only when no endpoint is ready (kube-proxy's fallback).
 */
export function usableSlots(
  ready: u16, readyZone: u16, readyLocal: u16, term: u16, termZone: u16, termLocal: u16,
  flags: u8, range: SlotRange,
): u8 {
  if (flags & SVC_F_LOCAL) {
    if (readyLocal > 0) {
      range.base = 0;
      range.count = readyLocal;
      return REASON_NONE;
    }
    if (termLocal > 0) {
      range.base = ready;
      range.count = termLocal;
      return REASON_NONE;
    }
    return REASON_NO_LOCAL_ENDPOINTS;
  }
  if (ready > 0) {
    range.base = 0;
    range.count = ready;
    if ((flags & SVC_F_PREFER_ZONE) && readyZone > 0) range.count = readyZone;
    return REASON_NONE;
  }
  if (term > 0) {
    range.base = ready;
    range.count = term;
    if ((flags & SVC_F_PREFER_ZONE) && termZone > 0) range.count = termZone;
    return REASON_NONE;
  }
  return REASON_NO_ENDPOINTS;
}

export function slotBackend(table: u32, slot: u32): u32 {
  const key = stackalloc<TableKey>();
  key.table = table;
  key.index = slot;
  const row = mc_slots.lookup(key);
  if (row == null) return 0xffffffff;
  return row.value;
}

function liveConnections(backendId: u32): u32 {
  const counter = mc_conns.lookup(backendId);
  if (counter == null) return 0;
  return counter.value;
}

/** Power of two choices: two random slots, the one with fewer live connections wins. */
function pickLeastConn(table: u32, base: u32, count: u32, rand: u32): u32 {
  const first = base + rand % count;
  const second = base + mix32(rand) % count;
  const firstConns = liveConnections(slotBackend(table, first));
  const secondConns = liveConnections(slotBackend(table, second));
  if (secondConns < firstConns) return second;
  return first;
}

/** Consistent hashing on the client: the ring maps a hash to a slot, if that slot is usable. */
function pickMaglev(table: u32, base: u32, count: u32, client: u64): u32 {
  const hash = hashClient(client);
  const key = stackalloc<TableKey>();
  key.table = table;
  key.index = hash % MAGLEV_RING;
  const row = mc_maglev.lookup(key);
  if (row != null) {
    if (row.value >= base && row.value < base + count) return row.value;
  }
  return base + hash % count;
}

function pickRoundRobin(svcId: u32, base: u32, count: u32, rand: u32): u32 {
  const counter = mc_rr.lookup(svcId);
  if (counter == null) return base + rand % count;
  const position = counter.value;
  counter.value = position + 1;
  return base + position % count;
}

function pickSlot(algorithm: u8, svcId: u32, table: u32, range: SlotRange, client: u64, rand: u32): u32 {
  if (algorithm == ALG_ROUND_ROBIN) return pickRoundRobin(svcId, range.base, range.count, rand);
  if (algorithm == ALG_MAGLEV) return pickMaglev(table, range.base, range.count, client);
  if (algorithm == ALG_LEAST_CONN) return pickLeastConn(table, range.base, range.count, rand);
  return range.base + rand % range.count;
}

/** Fills `out` with the backend in `slot` of `table`. */
export function translate(table: u32, slot: u32, out: Decision): u8 {
  const backendId = slotBackend(table, slot);
  const backend = mc_backends.lookup(backendId);
  if (backend == null) return refuse(out, REASON_TABLE_MISS);
  if (backend.state == BACKEND_EMPTY) return refuse(out, REASON_TABLE_MISS);
  out.addr0 = backend.addr0;
  out.addr1 = backend.addr1;
  out.addr2 = backend.addr2;
  out.addr3 = backend.addr3;
  out.port = backend.port;
  out.backend_id = backendId;
  out.slot = slot;
  out.table = table;
  out.verdict = VERDICT_TRANSLATE;
  out.reason = REASON_NONE;
  return VERDICT_TRANSLATE;
}

/** Picks a backend from one pool: the service's own, or a weighted group's. */
function decidePool(
  algorithm: u8, flags: u8, svcId: u32, table: u32,
  ready: u16, readyZone: u16, readyLocal: u16, term: u16, termZone: u16, termLocal: u16,
  client: u64, rand: u32, out: Decision,
): u8 {
  const range = stackalloc<SlotRange>();
  const reason = usableSlots(ready, readyZone, readyLocal, term, termZone, termLocal, flags, range);
  if (reason != REASON_NONE) return refuse(out, reason);
  const slot = pickSlot(algorithm, svcId, table, range, client, rand);
  return translate(table, slot, out);
}

/**
 * Gateway API weights: pick a backendRef with probability weight/total, then an endpoint inside
 * it. An unresolvable backendRef keeps its share, and that share is refused (HTTP 500 in L7).
 */
export function decideGroups(
  svc: ServiceValue, groups: u32, groupCount: u32, weightTotal: u32,
  client: u64, rand: u32, out: Decision,
): u8 {
  if (weightTotal == 0) return refuse(out, REASON_INVALID_BACKEND);
  const target = rand % weightTotal;
  const key = stackalloc<GroupKey>();
  key.set = groups;
  for (let i: u32 = 0; i < MAX_GROUPS; i++) {
    if (i >= groupCount) break;
    key.index = i;
    const group = mc_groups.lookup(key);
    if (group == null) return refuse(out, REASON_TABLE_MISS);
    if (target < group.weight_end) {
      if (group.flags & GROUP_F_INVALID) return refuse(out, REASON_INVALID_BACKEND);
      return decidePool(
        svc.algorithm, svc.flags, svc.id, group.table,
        group.ready, group.ready_zone, group.ready_local, group.term, group.term_zone, group.term_local,
        client, mix32(rand ^ 0x9e3779b9), out,
      );
    }
  }
  return refuse(out, REASON_TABLE_MISS);
}

/** The client's remembered backend, if it is still a usable member of the service. */
function affinityHit(svc: ServiceValue, key: AffinityKey, now: u64, out: Decision): u8 {
  const entry = mc_affinity.lookup(key);
  if (entry == null) return VERDICT_PASS;
  if (now - entry.last_ns >= <u64>svc.affinity_timeout * 1000000000) return VERDICT_PASS;
  let table = svc.table;
  if (svc.group_count > 0) table = entry.table;
  const member = stackalloc<TableKey>();
  member.table = table;
  member.index = entry.backend_id;
  const slot = mc_members.lookup(member);
  if (slot == null) return VERDICT_PASS;
  const verdict = translate(table, slot.value, out);
  if (verdict == VERDICT_TRANSLATE) entry.last_ns = now;
  return verdict;
}

function remember(key: AffinityKey, now: u64, out: Decision): void {
  const entry = stackalloc<AffinityValue>();
  entry.backend_id = out.backend_id;
  entry.table = out.table;
  entry.last_ns = now;
  mc_affinity.update(key, entry);
}

/**
 * The decision for one connection to `key`, with the service's groups or pool.
 * `groups`/`groupCount`/`weightTotal` are the service's own unless an L7 rule chose others.
 */
export function decideWith(
  svc: ServiceValue, groups: u32, groupCount: u32, weightTotal: u32,
  client: u64, rand: u32, now: u64, out: Decision,
): u8 {
  out.svc_id = svc.id;
  const affinity = stackalloc<AffinityKey>();
  if (svc.flags & SVC_F_AFFINITY) {
    affinity.svc_id = svc.id;
    affinity.client = client;
    if (affinityHit(svc, affinity, now, out) == VERDICT_TRANSLATE) return VERDICT_TRANSLATE;
  }
  let verdict: u8 = VERDICT_REFUSE;
  if (groupCount > 0) {
    verdict = decideGroups(svc, groups, groupCount, weightTotal, client, rand, out);
  } else {
    verdict = decidePool(
      svc.algorithm, svc.flags, svc.id, svc.table,
      svc.ready, svc.ready_zone, svc.ready_local, svc.term, svc.term_zone, svc.term_local,
      client, rand, out,
    );
  }
  if (verdict == VERDICT_TRANSLATE && (svc.flags & SVC_F_AFFINITY)) remember(affinity, now, out);
  return verdict;
}

/** The decision for one connect() to `key`; VERDICT_PASS when `key` is not a service. */
export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8 {
  const svc = mc_services.lookup(key);
  if (svc == null) {
    out.verdict = VERDICT_PASS;
    return VERDICT_PASS;
  }
  return decideWith(svc, svc.groups, svc.group_count, svc.weight_total, client, rand, now, out);
}
