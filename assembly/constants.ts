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

export const NP_ALLOW: u8 = 1; // network policy lets the connection through
export const NP_DENY: u8 = 2; // network policy refuses it: connect() fails with EPERM

export const NP_DIR_EGRESS: u8 = 1;
export const NP_DIR_INGRESS: u8 = 2;

export const NP_REASON_UNSELECTED: u8 = 0; // no policy selects either end: allowed
export const NP_REASON_ALLOWED: u8 = 1; // a rule allows it at every end a policy selects
export const NP_REASON_EGRESS: u8 = 2; // the client is selected for egress and no rule allows it
export const NP_REASON_INGRESS: u8 = 3; // the destination is selected for ingress and no rule allows it
export const NP_REASON_COUNT: u8 = 4;

export const NP_ID_ANY: u32 = 0; // a rule's peer: every peer
export const NP_ID_WORLD: u32 = 1; // an address no pod and no ipBlock prefix holds
export const NP_PREFIX_V6_BASE: u32 = 33; // mc_np_prefixes: IPv4 lengths at [0, 33), IPv6 at [33, 162)
export const NP_MAX_PREFIXES: u32 = 129; // prefix lengths tried per address at most
export const NP_MAX_RANGES: u32 = 32; // port ranges per rule row
export const MAX_NP_ADDRS: u32 = 131072; // pod addresses and ipBlock prefixes
export const MAX_NP_IDENTITIES: u32 = 65536; // identities
export const MAX_NP_RULES: u32 = 262144; // (subject, peer, direction, protocol) rows
export const MAX_NP_PORTS: u32 = 262144; // port ranges
