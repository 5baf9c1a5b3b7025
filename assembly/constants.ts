// Constants shared by the policy, the hooks and the host: algorithms, flags, states, verdicts.

export const ALG_RANDOM: u8 = 0;
export const ALG_ROUND_ROBIN: u8 = 1;
export const ALG_MAGLEV: u8 = 2;
export const ALG_LEAST_CONN: u8 = 3;

export const SVC_F_AFFINITY: u8 = 1; // sessionAffinity: ClientIP
export const SVC_F_LOCAL: u8 = 2; // internalTrafficPolicy: Local
export const SVC_F_PREFER_ZONE: u8 = 4; // trafficDistribution: PreferClose
export const SVC_F_L7: u8 = 8; // an HTTPRoute matches on more than weights

export const GROUP_F_INVALID: u16 = 1; // the backendRef cannot be resolved

export const BACKEND_EMPTY: u8 = 0;
export const BACKEND_READY: u8 = 1;
export const BACKEND_TERMINATING: u8 = 2; // serving and terminating

export const VERDICT_PASS: u8 = 0; // not a service: leave the destination alone
export const VERDICT_TRANSLATE: u8 = 1; // rewrite the destination to the chosen backend
export const VERDICT_REFUSE: u8 = 2; // fail connect() with ECONNREFUSED

export const REASON_NONE: u8 = 0;
export const REASON_NO_ENDPOINTS: u8 = 1; // no ready and no serving-terminating endpoint
export const REASON_NO_LOCAL_ENDPOINTS: u8 = 2; // internalTrafficPolicy Local, none on this node
export const REASON_INVALID_BACKEND: u8 = 3; // the weighted pick hit an unresolvable backendRef
export const REASON_TABLE_MISS: u8 = 4; // a table row was missing (never expected)
export const REASON_COUNT: u8 = 5;

export const IPPROTO_TCP: u8 = 6;
export const IPPROTO_UDP: u8 = 17;

export const MAGLEV_RING: u32 = 1021; // Maglev lookup table size per backend table (prime)
export const MAX_GROUPS: u32 = 16; // weighted backendRefs per rule
export const MAX_SERVICES: u32 = 262144; // service frontends (and service ids)
export const MAX_BACKENDS: u32 = 262144; // backend ids
export const MAX_SLOTS: u32 = 1048576; // slot, member and maglev rows, each
export const MAX_AFFINITY: u32 = 65536; // client affinity entries (LRU)
