// The host's view of the network policy decision in policy.wasm (never translated to C), and the
// address lookup that the kernel does with an LPM trie (bpf/meshc_netpol.h) over the same rows.
import { Decision, NpAddrKey, NpAddrValue, NpDecision, ServiceKey, SlotRange } from "../layouts";
import { NP_ALLOW, NP_DENY, NP_ID_WORLD, NP_MAX_PREFIXES, NP_PREFIX_V6_BASE, VERDICT_TRANSLATE } from "../constants";
import { mc_backends, mc_np_addrs, mc_np_prefixes } from "../maps";
import { stackalloc } from "../runtime/stack";
import { decideNetwork } from "./decide";
import { pickCandidate, pickRange } from "./pick";

export function mc_decide_network(client: u32, clientCidr: u32, dst: usize, port: u32, proto: u32, out: usize): u8 {
  const peer = stackalloc<NpAddrValue>();
  resolveAddress(changetype<NpAddrKey>(dst), peer);
  return decideNetwork(client, clientCidr, peer, <u16>port, <u8>proto, changetype<NpDecision>(out));
}

/** The verdict on a destination address (the address words of a Decision or NpAddrKey) and port. */
function decideAt(client: u32, clientCidr: u32, addr0: u32, addr1: u32, addr2: u32, addr3: u32, family: u8, port: u16, proto: u8, np: NpDecision): u8 {
  const dst = stackalloc<NpAddrKey>();
  dst.addr0 = addr0;
  dst.addr1 = addr1;
  dst.addr2 = addr2;
  dst.addr3 = addr3;
  dst.family = family;
  const peer = stackalloc<NpAddrValue>();
  resolveAddress(dst, peer);
  return decideNetwork(client, clientCidr, peer, port, proto, np);
}

/**
 * The backend of a Service a connect() goes to under network policy, as the hooks choose it
 * (mc_np_pick, bpf/meshc_netpol.h): the routing decision `out`'s own backend when allowed, else
 * the first allowed one of the next slots of its range (written to `out`); NP_DENY when none is,
 * `np` then holding the decision on the routing policy's pick.
 */
export function mc_np_pick(client: u32, clientCidr: u32, keyPtr: usize, outPtr: usize, npPtr: usize): u8 {
  const key = changetype<ServiceKey>(keyPtr);
  const out = changetype<Decision>(outPtr);
  const np = changetype<NpDecision>(npPtr);
  if (decideAt(client, clientCidr, out.addr0, out.addr1, out.addr2, out.addr3, key.family, out.port, key.proto, np) == NP_ALLOW) return NP_ALLOW;
  const range = stackalloc<SlotRange>();
  const tries = pickRange(key, out, range);
  const cand = stackalloc<Decision>();
  const scratch = stackalloc<NpDecision>();
  for (let i: u32 = 1; i <= tries; i++) {
    memory.fill(changetype<usize>(cand), 0, offsetof<Decision>());
    if (pickCandidate(out, range, i, cand) != VERDICT_TRANSLATE) continue;
    const backend = mc_backends.lookup(cand.backend_id);
    if (backend == null || backend.family != key.family) continue;
    memory.fill(changetype<usize>(scratch), 0, offsetof<NpDecision>());
    if (decideAt(client, clientCidr, cand.addr0, cand.addr1, cand.addr2, cand.addr3, key.family, cand.port, key.proto, scratch) != NP_ALLOW) continue;
    memory.copy(changetype<usize>(out), changetype<usize>(cand), offsetof<Decision>());
    return NP_ALLOW;
  }
  return NP_DENY;
}

/** A 32-bit word between network and host byte order. */
function bswap32(x: u32): u32 {
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
function resolveAddress(addr: NpAddrKey, out: NpAddrValue): void {
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



let scratch: usize = 0;

/** A buffer of its own for decideNetwork's inputs and output, apart from host_scratch (whose
 * contents the routing decision is still using). */
export function np_scratch(): usize {
  if (!scratch) scratch = heap.alloc(64);
  return scratch;
}
