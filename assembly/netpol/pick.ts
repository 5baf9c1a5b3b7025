// Network policy's part in choosing a backend: when the backend the routing policy chose is
// denied, the hooks (bpf/meshc_netpol.h) and the simulator (netpol/wasm.ts) try the next slots of
// the same usable range in slot order, wrapping, and take the first one network policy allows.
// Written in the translatable subset: the range and each candidate are the same in Wasm and BPF.
import { Decision, GroupKey, ServiceKey, SlotRange } from "../layouts";
import { MAX_GROUPS, REASON_NONE } from "../constants";
import { mc_groups, mc_services } from "../maps";
import { slotBackend, translate, usableSlots } from "../policy";
import { stackalloc } from "../runtime/stack";

/**
 * The usable slot range of the pool the routing decision `out` for `key` came from, into
 * `range`; returns how many other slots may be tried after it (at most 255, a bound on one
 * connect()'s work), 0 when there is no other choice or `out` is not a pick from that range
 * (a user policy's decision, a consumer route's listener).
 */
export function pickRange(key: ServiceKey, out: Decision, range: SlotRange): u32 {
  range.base = 0;
  range.count = 0;
  const svc = mc_services.lookup(key);
  if (svc == null) return 0;
  let reason: u8 = REASON_NONE;
  if (svc.group_count == 0) {
    if (out.table != svc.table) return 0;
    reason = usableSlots(svc.ready, svc.ready_zone, svc.ready_local, svc.term, svc.term_zone, svc.term_local, svc.flags, range);
  } else {
    let found = false;
    const gkey = stackalloc<GroupKey>();
    gkey.set = svc.groups;
    for (let i: u32 = 0; i < MAX_GROUPS; i++) {
      if (i >= <u32>svc.group_count) break;
      gkey.index = i;
      const group = mc_groups.lookup(gkey);
      if (group == null) return 0;
      if (group.table == out.table) {
        reason = usableSlots(group.ready, group.ready_zone, group.ready_local, group.term, group.term_zone, group.term_local, svc.flags, range);
        found = true;
        break;
      }
    }
    if (!found) return 0;
  }
  if (reason != REASON_NONE) return 0;
  if (out.slot < range.base) return 0;
  if (out.slot - range.base >= range.count) return 0;
  if (slotBackend(out.table, out.slot) != out.backend_id) return 0;
  let tries = range.count - 1;
  if (tries > 255) tries = 255;
  return tries;
}

/** Candidate `i` (from 1) after the chosen slot: the backend `i` slots on in the range, wrapping, into `cand`. */
export function pickCandidate(out: Decision, range: SlotRange, i: u32, cand: Decision): u8 {
  const slot = range.base + (out.slot - range.base + i) % range.count;
  cand.svc_id = out.svc_id;
  return translate(out.table, slot, cand);
}
