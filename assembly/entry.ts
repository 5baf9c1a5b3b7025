// The policy entry that policy.wasm and the BPF hooks call. `meshc compile --policy FILE` swaps
// this file for one that re-exports the user's `decide`.
export { decide } from "./policy";
// The network policy verdict the hooks call after the routing decision (not replaceable).
export { decideNetwork } from "./netpol/decide";
// The next allowed backend when the chosen one is denied (not replaceable either).
export { pickCandidate, pickRange } from "./netpol/pick";
