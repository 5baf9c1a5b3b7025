// @ts-nocheck: AssemblyScript (u32, extensionless imports), read by meshc compile, not by tsc.
// A user policy inside the translatable subset (constant loop bound, checked lookups) that the
// kernel's verifier still refuses: five million iterations is far past the verifier's budget of
// one million instructions per program. test/kernel/compile.test.ts expects the rejection.
import { Decision, ServiceKey } from "./layouts";
import { mc_conns } from "./maps";
import { decide as builtin } from "./policy";

export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8 {
  let busy: u32 = 0;
  for (let i: u32 = 0; i < 5000000; i++) {
    const counter = mc_conns.lookup(i & 0xffff);
    if (counter != null) busy += counter.value;
  }
  return builtin(key, client, rand ^ busy, now, out);
}
