// The host's view of the network policy decision in policy.wasm (never translated to C).
import { NpAddrKey, NpDecision } from "../layouts";
import { decideNetwork } from "./decide";

export function mc_decide_network(client: u32, clientCidr: u32, dst: usize, port: u32, proto: u32, out: usize): u8 {
  return decideNetwork(client, clientCidr, changetype<NpAddrKey>(dst), <u16>port, <u8>proto, changetype<NpDecision>(out));
}

let scratch: usize = 0;

/** A buffer of its own for decideNetwork's inputs and output, apart from host_scratch (whose
 * contents the routing decision is still using). */
export function np_scratch(): usize {
  if (!scratch) scratch = heap.alloc(64);
  return scratch;
}
