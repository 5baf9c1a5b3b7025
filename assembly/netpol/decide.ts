// Network policy: the verdict for one connection from a client pod to an address and port.
// Written in the translatable subset (docs/policy-subset.md): this file becomes BPF C, and the
// hooks call decideNetwork() with the destination the routing policy chose.
// Identities are numbers the table compiler gives to pods' label sets and to ipBlock prefixes
// (src/netpol/tables.ts); docs/network-policy.md describes the tables.
import { NpAddrValue, NpDecision, NpIdentity, NpRuleKey, TableKey } from "../layouts";
import {
  NP_ALLOW, NP_DENY, NP_DIR_EGRESS, NP_DIR_INGRESS, NP_ID_ANY, NP_ID_WORLD, NP_MAX_RANGES, NP_REASON_ALLOWED,
  NP_REASON_EGRESS, NP_REASON_INGRESS, NP_REASON_UNSELECTED,
} from "../constants";
import { mc_np_identities, mc_np_ports, mc_np_rules } from "../maps";
import { stackalloc } from "../runtime/stack";

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
  if (count == 0) return 0;
  if (port >= row.first && port <= row.last) return row.policy;
  const rangeKey = stackalloc<TableKey>();
  rangeKey.table = set;
  for (let i: u32 = 1; i < NP_MAX_RANGES; i++) {
    if (i >= count) break;
    rangeKey.index = i;
    const range = mc_np_ports.lookup(rangeKey);
    if (range == null) return 0;
    if (port >= range.first && port <= range.last) return range.policy;
  }
  return 0;
}

/**
 * rulePolicy for the peer's pod identity `peer` (never 0): from the entries of `subject`'s
 * identity row `row` when they are all its rows with a pod identity as peer in that direction and
 * `peer` is one (a caller may pass any number), else by the rule lookup. The same answer either
 * way; the row saves a hash lookup.
 */
function podRulePolicy(row: NpIdentity, subject: u32, peer: u32, direction: u8, proto: u8, port: u16): u32 {
  let complete = row.inline_ingress;
  if (direction == NP_DIR_EGRESS) complete = row.inline_egress;
  if (complete == 0 || peer <= NP_ID_WORLD || peer >= row.pods_end) return rulePolicy(subject, peer, direction, proto, port);
  if (row.r0_peer == peer && row.r0_direction == direction && row.r0_proto == proto) {
    if (port >= row.r0_first && port <= row.r0_last) return row.r0_policy;
    return 0;
  }
  if (row.r1_peer == peer && row.r1_direction == direction && row.r1_proto == proto) {
    if (port >= row.r1_first && port <= row.r1_last) return row.r1_policy;
    return 0;
  }
  if (row.r2_peer == peer && row.r2_direction == direction && row.r2_proto == proto) {
    if (port >= row.r2_first && port <= row.r2_last) return row.r2_policy;
    return 0;
  }
  return 0;
}

/**
 * The first rule that allows the peer, looked up by its pod identity, its CIDR identity, then any
 * peer. `row`: the subject's identity row.
 */
function allowingPolicy(row: NpIdentity, subject: u32, direction: u8, peerPod: u32, peerCidr: u32, proto: u8, port: u16): u32 {
  if (peerPod != 0) {
    const byPod = podRulePolicy(row, subject, peerPod, direction, proto, port);
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
 * pod, and the CIDR identity of its address) to a destination whose identities are `peer` (the
 * longest prefix holding its address: in the kernel an LPM trie lookup by the glue, in Wasm
 * resolveAddress of netpol/wasm.ts, over the same rows), on `port` (network byte order), `proto`. Egress rules of the client and ingress rules of the destination pod both apply, as
 * they would at the two ends: a policy that selects an end for a direction isolates it, and then
 * only what some rule allows passes.
 */
export function decideNetwork(client: u32, clientCidr: u32, peer: NpAddrValue, port: u16, proto: u8, out: NpDecision): u8 {
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
      const policy = allowingPolicy(own, client, NP_DIR_EGRESS, peer.pod, peer.cidr, proto, hostPort);
      if (policy == 0) return deny(out, NP_REASON_EGRESS, NP_DIR_EGRESS, isolating);
      out.policy = policy;
      reason = NP_REASON_ALLOWED;
    }
  }
  if (peer.pod != 0) {
    const theirs = mc_np_identities.lookup(peer.pod);
    if (theirs != null && theirs.ingress_policy != 0) {
      const isolating = theirs.ingress_policy;
      const policy = allowingPolicy(theirs, peer.pod, NP_DIR_INGRESS, client, clientCidr, proto, hostPort);
      if (policy == 0) return deny(out, NP_REASON_INGRESS, NP_DIR_INGRESS, isolating);
      if (reason == NP_REASON_UNSELECTED) out.policy = policy;
      reason = NP_REASON_ALLOWED;
    }
  }
  out.verdict = NP_ALLOW;
  out.reason = reason;
  return NP_ALLOW;
}
