// Network policy: the verdict for one connection from a client pod to an address and port.
// Written in the translatable subset (docs/policy-subset.md): this file becomes BPF C, and the
// hooks call decideNetwork() with the destination the routing policy chose.
// Identities are numbers the table compiler gives to pods' label sets and to ipBlock prefixes
// (src/netpol/tables.ts); docs/network-policy.md describes the tables.
import { NpAddrKey, NpAddrValue, NpDecision, NpRuleKey, TableKey } from "../layouts";
import {
  NP_ALLOW, NP_DENY, NP_DIR_EGRESS, NP_DIR_INGRESS, NP_ID_ANY, NP_ID_WORLD, NP_MAX_PREFIXES,
  NP_MAX_RANGES, NP_PREFIX_V6_BASE, NP_REASON_ALLOWED, NP_REASON_EGRESS, NP_REASON_INGRESS,
  NP_REASON_UNSELECTED,
} from "../constants";
import { mc_np_addrs, mc_np_identities, mc_np_ports, mc_np_prefixes, mc_np_rules } from "../maps";
import { stackalloc } from "../runtime/stack";

/** A 32-bit word between network and host byte order. */
export function bswap32(x: u32): u32 {
  return (x >> 24) | ((x >> 8) & 0xff00) | ((x << 8) & 0xff0000) | (x << 24);
}

/** The network-order mask of the first `bits` bits (0 to 32) of an address word. */
function wordMask(bits: u32): u32 {
  if (bits == 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return bswap32(0xffffffff << (32 - bits));
}

/** How many of a prefix's `prefix` bits fall in address word `index`. */
function bitsInWord(prefix: u32, index: u32): u32 {
  const start = index * 32;
  if (prefix <= start) return 0;
  if (prefix - start >= 32) return 32;
  return prefix - start;
}

/**
 * Who holds `addr`: the entry of mc_np_addrs with the longest prefix that holds it, trying only
 * the lengths mc_np_prefixes lists (longest first). A pod's address is a full-length entry, so it
 * wins over every ipBlock prefix; its entry also carries the longest ipBlock prefix holding it.
 */
export function resolveAddress(addr: NpAddrKey, out: NpAddrValue): void {
  out.pod = 0;
  out.cidr = NP_ID_WORLD;
  let base: u32 = 0;
  let lengths: u32 = 33;
  if (addr.family == 6) {
    base = NP_PREFIX_V6_BASE;
    lengths = NP_MAX_PREFIXES;
  }
  const key = stackalloc<NpAddrKey>();
  key.family = addr.family;
  for (let i: u32 = 0; i < NP_MAX_PREFIXES; i++) {
    if (i >= lengths) return;
    const entry = mc_np_prefixes.lookup(base + i);
    if (entry == null) return;
    if (entry.used == 0) return;
    const prefix = <u32>entry.prefix;
    key.prefix = entry.prefix;
    key.addr0 = addr.addr0 & wordMask(bitsInWord(prefix, 0));
    key.addr1 = addr.addr1 & wordMask(bitsInWord(prefix, 1));
    key.addr2 = addr.addr2 & wordMask(bitsInWord(prefix, 2));
    key.addr3 = addr.addr3 & wordMask(bitsInWord(prefix, 3));
    const hit = mc_np_addrs.lookup(key);
    if (hit != null) {
      out.pod = hit.pod;
      out.cidr = hit.cidr;
      return;
    }
  }
}

/** The policy whose rule lets `subject` and `peer` talk on `proto`/`port` (host order); 0 for none. */
function rulePolicy(subject: u32, peer: u32, direction: u8, proto: u8, port: u16): u32 {
  const key = stackalloc<NpRuleKey>();
  key.subject = subject;
  key.peer = peer;
  key.direction = direction;
  key.proto = proto;
  const row = mc_np_rules.lookup(key);
  if (row == null) return 0;
  const set = row.set;
  const count = row.count;
  const rangeKey = stackalloc<TableKey>();
  rangeKey.table = set;
  for (let i: u32 = 0; i < NP_MAX_RANGES; i++) {
    if (i >= count) break;
    rangeKey.index = i;
    const range = mc_np_ports.lookup(rangeKey);
    if (range == null) return 0;
    if (port >= range.first && port <= range.last) return range.policy;
  }
  return 0;
}

/** The first rule that allows the peer, looked up by its pod identity, its CIDR identity, then any peer. */
function allowingPolicy(subject: u32, direction: u8, peerPod: u32, peerCidr: u32, proto: u8, port: u16): u32 {
  if (peerPod != 0) {
    const byPod = rulePolicy(subject, peerPod, direction, proto, port);
    if (byPod != 0) return byPod;
  }
  const byCidr = rulePolicy(subject, peerCidr, direction, proto, port);
  if (byCidr != 0) return byCidr;
  return rulePolicy(subject, NP_ID_ANY, direction, proto, port);
}

function deny(out: NpDecision, reason: u8, direction: u8, policy: u32): u8 {
  out.verdict = NP_DENY;
  out.reason = reason;
  out.direction = direction;
  out.policy = policy;
  return NP_DENY;
}

/**
 * The verdict for a connection from a client (pod identity `client`, 0 for a process that is no
 * pod, and the CIDR identity of its address) to `dst` on `port` (network byte order) over
 * `proto`. Egress rules of the client and ingress rules of the destination pod both apply, as
 * they would at the two ends: a policy that selects an end for a direction isolates it, and then
 * only what some rule allows passes.
 */
export function decideNetwork(client: u32, clientCidr: u32, dst: NpAddrKey, port: u16, proto: u8, out: NpDecision): u8 {
  const peer = stackalloc<NpAddrValue>();
  resolveAddress(dst, peer);
  out.peer_pod = peer.pod;
  out.peer_cidr = peer.cidr;
  out.policy = 0;
  out.direction = 0;
  const hostPort = <u16>(((port & 0xff) << 8) | (port >> 8));
  let reason: u8 = NP_REASON_UNSELECTED;
  if (client != 0) {
    const own = mc_np_identities.lookup(client);
    if (own != null && own.egress_policy != 0) {
      const isolating = own.egress_policy;
      const policy = allowingPolicy(client, NP_DIR_EGRESS, peer.pod, peer.cidr, proto, hostPort);
      if (policy == 0) return deny(out, NP_REASON_EGRESS, NP_DIR_EGRESS, isolating);
      out.policy = policy;
      reason = NP_REASON_ALLOWED;
    }
  }
  if (peer.pod != 0) {
    const theirs = mc_np_identities.lookup(peer.pod);
    if (theirs != null && theirs.ingress_policy != 0) {
      const isolating = theirs.ingress_policy;
      const policy = allowingPolicy(peer.pod, NP_DIR_INGRESS, client, clientCidr, proto, hostPort);
      if (policy == 0) return deny(out, NP_REASON_INGRESS, NP_DIR_INGRESS, isolating);
      if (reason == NP_REASON_UNSELECTED) out.policy = policy;
      reason = NP_REASON_ALLOWED;
    }
  }
  out.verdict = NP_ALLOW;
  out.reason = reason;
  return NP_ALLOW;
}
