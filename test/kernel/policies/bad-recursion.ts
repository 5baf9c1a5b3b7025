// @ts-nocheck: AssemblyScript (u32, extensionless imports), read by meshc compile, not by tsc.
// A user policy outside the translatable subset: recursion. `meshc compile --policy` must print
// the generator's diagnostic at this file's line and column and exit 1.
import { Decision, ServiceKey } from "./layouts";
import { VERDICT_PASS } from "./constants";

function depth(n: u32): u32 {
  if (n == 0) return 0;
  return depth(n - 1) + 1;
}

export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8 {
  out.slot = depth(rand & 7);
  out.verdict = VERDICT_PASS;
  return VERDICT_PASS;
}
