// Byte layouts of every map key and value: the one declaration that the BPF C structs, the
// TypeScript codec and the Wasm tables all follow. Fields are ordered by size and padded by hand
// so that C, Wasm and TypeScript agree without compiler-inserted padding.
// Addresses and ports hold network-byte-order bytes, exactly as struct bpf_sock_addr gives them.
// Fields `addr0` … `addr3` in a row are one array, `addr[4]`, in C and in the TypeScript codecs
// (AssemblyScript has no inline arrays): an IPv4 address in addr[0] and zeros, or an IPv6 address.

/** Key of mc_services: one Service frontend (ClusterIP, port, protocol). */
@unmanaged export class ServiceKey {
  addr0: u32; // frontend address (ClusterIP), network byte order; addr[0] alone for IPv4
  addr1: u32;
  addr2: u32;
  addr3: u32;
  port: u16; // frontend port (network byte order)
  proto: u8; // IPPROTO_TCP (6) or IPPROTO_UDP (17)
  family: u8; // 4 or 6
}

/** Value of mc_services. The pool counts describe the slots of `table` (see TableKey). */
@unmanaged export class ServiceValue {
  id: u32; // service id: index into mc_rr, part of the affinity key
  table: u32; // backend table revision that holds this service's slots, members and maglev ring
  ready: u16; // slots [0, ready) hold ready endpoints
  ready_zone: u16; // of those, the first ready_zone are in this node's zone
  ready_local: u16; // of those, the first ready_local are on this node
  term: u16; // slots [ready, ready + term) hold serving-terminating endpoints
  term_zone: u16; // of those, the first term_zone are in this node's zone
  term_local: u16; // of those, the first term_local are on this node
  algorithm: u8; // ALG_* constant
  flags: u8; // SVC_F_* bits
  group_count: u16; // weighted backend groups in mc_groups under `groups`, 0 for none
  affinity_timeout: u32; // ClientIP affinity timeout in seconds (when SVC_F_AFFINITY)
  groups: u32; // group set id of the weighted backendRefs, 0 for none
  weight_total: u32; // sum of the groups' weights
}

/** Key of mc_slots, mc_members and mc_maglev: a row of one backend table revision. */
@unmanaged export class TableKey {
  table: u32; // backend table revision
  index: u32; // slot index (mc_slots), backend id (mc_members) or ring position (mc_maglev)
}

/** Value of mc_slots (a backend id), mc_members and mc_maglev (a slot index). */
@unmanaged export class TableValue {
  value: u32; // backend id, or slot index
}

/** Value of mc_backends, indexed by backend id. */
@unmanaged export class Backend {
  addr0: u32; // backend (pod) address, network byte order; addr[0] alone for IPv4
  addr1: u32;
  addr2: u32;
  addr3: u32;
  port: u16; // backend port (network byte order)
  state: u8; // BACKEND_* constant; BACKEND_EMPTY marks an unused id
  family: u8; // 4 or 6
  zone: u16; // zone id (interned by the host), 0 when unknown
  node: u16; // node id (interned by the host), 0 when unknown
  weight: u16; // relative weight inside its group (informational; groups carry the split)
  pad: u16; // zero
}

/** Key of mc_groups: one weighted backendRef of a group set. */
@unmanaged export class GroupKey {
  set: u32; // group set id
  index: u32; // position in the set, from 0
}

/** Value of mc_groups: a backendRef's cumulative weight and its backend pool. */
@unmanaged export class Group {
  weight_end: u32; // sum of weights of groups [0, index]
  table: u32; // backend table revision of the referenced Service port
  ready: u16; // as in ServiceValue
  ready_zone: u16;
  ready_local: u16;
  term: u16;
  term_zone: u16;
  term_local: u16;
  flags: u16; // GROUP_F_* bits
  pad: u16; // zero
}

/** Key of mc_affinity: one client of one service. */
@unmanaged export class AffinityKey {
  svc_id: u32; // service id
  pad: u32; // zero
  client: u64; // client identity (network namespace cookie in the kernel)
}

/** Value of mc_affinity. */
@unmanaged export class AffinityValue {
  backend_id: u32; // backend chosen last time
  table: u32; // table revision the backend was chosen from
  last_ns: u64; // time of the last use, in nanoseconds of the monotonic clock
}

/** Value of mc_rr (indexed by service id) and mc_conns (indexed by backend id). */
@unmanaged export class Counter {
  value: u32; // next round-robin position, or live connections
}

/** The outcome of one decision, written by decide(). */
@unmanaged export class Decision {
  addr0: u32; // chosen backend address, network byte order; addr[0] alone for IPv4
  addr1: u32;
  addr2: u32;
  addr3: u32;
  port: u16; // chosen backend port (network byte order)
  verdict: u8; // VERDICT_* constant
  reason: u8; // REASON_* constant when refused
  backend_id: u32; // chosen backend id
  slot: u32; // slot index the backend came from
  svc_id: u32; // service id, when the destination was a service
  table: u32; // backend table revision the backend came from
}

/** Scratch result of choosing which slot range of a pool is usable. */
@unmanaged export class SlotRange {
  base: u32; // first usable slot
  count: u32; // number of usable slots
}

// Network policy (assembly/netpol/decide.ts). Identities are numbers the table compiler gives to
// pods' label sets and to ipBlock prefixes; rules are rows keyed by (subject, peer) identities.

/** Key of mc_np_addrs: an address prefix; a pod's address is a prefix of full length. */
@unmanaged export class NpAddrKey {
  addr0: u32; // prefix address, network byte order, bits past `prefix` zero; addr[0] alone for IPv4
  addr1: u32;
  addr2: u32;
  addr3: u32;
  prefix: u8; // prefix length in bits
  family: u8; // 4 or 6
  pad: u16; // zero
}

/** Value of mc_np_addrs: who holds an address. Also the value of the glue's cgroup map. */
@unmanaged export class NpAddrValue {
  pod: u32; // pod identity, 0 when the prefix is not one pod's address
  cidr: u32; // CIDR identity: the longest ipBlock prefix holding the address, NP_ID_WORLD for none
}

/** Value of mc_np_prefixes: the prefix lengths mc_np_addrs holds, longest first, per family. */
@unmanaged export class NpPrefix {
  prefix: u8; // prefix length in bits
  used: u8; // 1 for a length in use, 0 past the last one
  pad: u16; // zero
}

/**
 * Value of mc_np_identities, indexed by identity: the policies that isolate its pods, and up to
 * three of its mc_np_rules rows (one port range each) whose peer is a pod identity, copied here:
 * when `inline_egress` (`inline_ingress`) is 1, these are all its rows of that direction with a
 * pod identity as peer, and a rule by pod is decided from this row without a rule lookup. An
 * unused entry has peer 0 (NP_ID_ANY), which never stands for a pod.
 */
@unmanaged export class NpIdentity {
  egress_policy: u32; // the first policy selecting these pods for egress, 0 when none does
  ingress_policy: u32; // the first policy selecting these pods for ingress, 0 when none does
  inline_egress: u8; // 1: every egress row with a pod peer is an entry below
  inline_ingress: u8; // 1: every ingress row with a pod peer is an entry below
  pad: u16; // zero
  r0_peer: u32; // entry 0: the peer pod identity (0: unused)
  r0_policy: u32; // entry 0: the policy whose rule allows the range
  r0_first: u16; // entry 0: first port, host byte order
  r0_last: u16; // entry 0: last port (inclusive)
  r0_direction: u8; // entry 0: NP_DIR_*
  r0_proto: u8; // entry 0: IPPROTO_*
  r0_pad: u16; // zero
  r1_peer: u32; // entry 1, as entry 0
  r1_policy: u32;
  r1_first: u16;
  r1_last: u16;
  r1_direction: u8;
  r1_proto: u8;
  r1_pad: u16;
  r2_peer: u32; // entry 2, as entry 0
  r2_policy: u32;
  r2_first: u16;
  r2_last: u16;
  r2_direction: u8;
  r2_proto: u8;
  r2_pad: u16;
  pods_end: u32; // identities NP_ID_WORLD + 1 .. pods_end - 1 are pod identities: the entries answer for those only
}

/** Key of mc_np_rules: traffic between pods of `subject` and a peer, in one direction. */
@unmanaged export class NpRuleKey {
  subject: u32; // identity of the pods a policy selects
  peer: u32; // a pod identity, a CIDR identity, or NP_ID_ANY for every peer
  direction: u8; // NP_DIR_EGRESS or NP_DIR_INGRESS
  proto: u8; // IPPROTO_TCP, IPPROTO_UDP or 132 (SCTP)
  pad: u16; // zero
}

/**
 * Value of mc_np_rules: the allowed port ranges, `count` of them: the first here in the row (one
 * lookup decides the common rule of one port or one range), the others rows [1, count) of `set`
 * in mc_np_ports.
 */
@unmanaged export class NpRuleValue {
  set: u32; // port range set id
  count: u32; // ranges in the set
  first: u16; // range 0: first port, host byte order
  last: u16; // range 0: last port, host byte order (first..last inclusive)
  policy: u32; // range 0: id of the policy whose rule allows it
}

/** Value of mc_np_ports (key TableKey: set, index from 1): one allowed port range after a rule's first. */
@unmanaged export class NpPortRange {
  first: u16; // first port, host byte order
  last: u16; // last port, host byte order (first..last inclusive)
  policy: u32; // id of the policy whose rule allows the range
}

/** The outcome of one network policy decision, written by decideNetwork(). */
@unmanaged export class NpDecision {
  verdict: u8; // NP_ALLOW or NP_DENY
  reason: u8; // NP_REASON_* constant
  direction: u8; // NP_DIR_* of the end that denied, or 0
  pad: u8; // zero
  policy: u32; // id of the deciding policy, 0 for none
  peer_pod: u32; // the destination's pod identity, 0 when it is not a pod
  peer_cidr: u32; // the destination's CIDR identity
}
