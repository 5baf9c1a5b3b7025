// Entry of policy.wasm: re-exports the decision functions and the host-side table API.
// Only this file decides what the module exports; the policy itself lives beside it.
export * from "./wasm";
export * from "./l7/index";
export * from "./netpol/wasm";
