// The maps that the policy reads and writes. In the kernel each is a BPF map of the same name
// (the first argument is the map's id on the Wasm side, the second its max_entries); in Wasm
// each is a table in linear memory that the host fills through the exports in wasm.ts.
import { ArrayMap, HashMap, LruHashMap } from "./runtime/maps";
import {
  AffinityKey, AffinityValue, Backend, Counter, Group, GroupKey, ServiceKey, ServiceValue,
  TableKey, TableValue, NpAddrKey, NpAddrValue, NpPrefix, NpIdentity, NpRuleKey, NpRuleValue,
  NpPortRange,
} from "./layouts";
import {
  MAX_AFFINITY, MAX_BACKENDS, MAX_SERVICES, MAX_SLOTS, MAX_NP_ADDRS, MAX_NP_IDENTITIES,
  MAX_NP_PORTS, MAX_NP_RULES, NP_PREFIX_V6_BASE, NP_MAX_PREFIXES,
} from "./constants";

export const mc_services = new HashMap<ServiceKey, ServiceValue>(0, MAX_SERVICES);
export const mc_slots = new HashMap<TableKey, TableValue>(1, MAX_SLOTS);
export const mc_members = new HashMap<TableKey, TableValue>(2, MAX_SLOTS);
export const mc_maglev = new HashMap<TableKey, TableValue>(3, MAX_SLOTS);
export const mc_backends = new ArrayMap<Backend>(4, MAX_BACKENDS);
export const mc_groups = new HashMap<GroupKey, Group>(5, MAX_SERVICES);
export const mc_affinity = new LruHashMap<AffinityKey, AffinityValue>(6, MAX_AFFINITY);
export const mc_rr = new ArrayMap<Counter>(7, MAX_SERVICES);
export const mc_conns = new ArrayMap<Counter>(8, MAX_BACKENDS);

// Network policy (assembly/netpol/decide.ts).
export const mc_np_addrs = new HashMap<NpAddrKey, NpAddrValue>(9, MAX_NP_ADDRS);
export const mc_np_prefixes = new ArrayMap<NpPrefix>(10, NP_PREFIX_V6_BASE + NP_MAX_PREFIXES);
export const mc_np_identities = new ArrayMap<NpIdentity>(11, MAX_NP_IDENTITIES);
export const mc_np_rules = new HashMap<NpRuleKey, NpRuleValue>(12, MAX_NP_RULES);
export const mc_np_ports = new HashMap<TableKey, NpPortRange>(13, MAX_NP_PORTS);
