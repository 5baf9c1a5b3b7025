// The network policy table compiler: the model's pods, namespaces and policies in, the rows of
// the mc_np_* maps out (the same bytes for Wasm and the kernel), plus what inspect and simulate
// name: identities, policies, each pod's identity.
//
// Identities: one per distinct (namespace, labels, named ports) of pods, and one per distinct
// ipBlock prefix (cidr or except) of any policy. Prefixes are nested or disjoint, so the longest
// prefix holding an address decides its membership in every ipBlock: a rule's ipBlock becomes
// rows for the prefix identities inside it and not inside an except.
import type { Model, PodInfo, Protocol } from '../model/types.ts';
import { formatAddress, formatCidr, parseAddress, parseCidr, type Cidr } from '../model/ip.ts';
import * as L from '../tables/layouts.ts';
import { McNpConfig } from '../generated/glue.ts';
import { addressWords, decode, encode, hex } from '../tables/codec.ts';
import type { MapRows } from '../tables/compile.ts';
import { selects } from '../model/netpol-selector.ts';
import { policyName, type NetworkPeer, type NetworkPolicy, type NetworkPort, type NetworkRule } from '../model/netpol-types.ts';

export const NP_MAPS = ['mc_np_prefixes', 'mc_np_addrs', 'mc_np_identities', 'mc_np_ports', 'mc_np_rules'] as const satisfies readonly L.MapName[];
export type NpMapName = (typeof NP_MAPS)[number];

export interface PodIdentity {
  id: number;
  kind: 'pods';
  namespace: string;
  labels: Record<string, string>;
  namedPorts: PodInfo['namedPorts'];
  /** `namespace/name` of its pods. */
  pods: string[];
  /** Policies isolating it, by id: the first is the one written to the table. */
  egressPolicies: number[];
  ingressPolicies: number[];
}

export interface CidrIdentity {
  id: number;
  kind: 'cidr';
  cidr: string;
}

export type Identity = PodIdentity | CidrIdentity;

export interface PolicyInfo {
  id: number;
  policy: NetworkPolicy;
  name: string;
}

export interface RuleRow {
  subject: number;
  peer: number;
  direction: 'egress' | 'ingress';
  protocol: Protocol;
  ranges: { first: number; last: number; policy: number }[];
}

export interface NetpolTables {
  rows: Map<NpMapName, MapRows>;
  identities: Map<number, Identity>;
  policies: PolicyInfo[];
  /** Per pod (`namespace/name`): its identity and the CIDR identity of its address. */
  pods: Map<string, { identity: number; cidr: number }>;
  rules: RuleRow[];
  /** Pod identities a policy isolates, per direction: the switch mc_np_config (npConfigValue). */
  isolated: { egress: number; ingress: number };
  warnings: string[];
}

/**
 * The value of the glue's mc_np_config (struct mc_np_config, bpf/meshc_netpol.h): with both 0 the
 * hooks skip network policy after one array lookup.
 */
export function npConfigValue(tables: Pick<NetpolTables, 'isolated'>): Uint8Array {
  return encode(McNpConfig, { egress: tables.isolated.egress, ingress: tables.isolated.ingress });
}

/** The inverse of npConfigValue: what a pinned mc_np_config holds. */
export function readNpConfig(value: Uint8Array): NetpolTables['isolated'] {
  const config = decode(McNpConfig, value);
  return { egress: config.egress, ingress: config.ingress };
}

const ALL_PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
const DIRECTION = { egress: L.NP_DIR_EGRESS, ingress: L.NP_DIR_INGRESS } as const;

/** The labels a namespace selector sees: the Namespace's, and kubernetes.io/metadata.name always. */
export function namespaceLabels(model: Model, namespace: string): Record<string, string> {
  return { ...(model.namespaces.get(namespace)?.labels ?? {}), 'kubernetes.io/metadata.name': namespace };
}

export function compileNetpol(model: Model): NetpolTables {
  const policies = (model.networkPolicies ?? []).map((policy, index): PolicyInfo => ({ id: index + 1, policy, name: policyName(policy) }));
  const warnings: string[] = [];
  const identities = new Map<number, Identity>();
  const pods = new Map<string, { identity: number; cidr: number }>();

  // Pod identities, in the order of their keys, from 2 (0 is "any peer", 1 the world).
  const byKey = new Map<string, PodInfo[]>();
  for (const pod of model.pods.values()) {
    const key = identityKey(pod);
    byKey.set(key, [...(byKey.get(key) ?? []), pod]);
  }
  let next = 2;
  const podIdentities: PodIdentity[] = [];
  for (const key of [...byKey.keys()].sort()) {
    const members = byKey.get(key)!;
    const first = members[0]!;
    const identity: PodIdentity = {
      id: next++, kind: 'pods', namespace: first.meta.namespace, labels: { ...first.meta.labels }, namedPorts: first.namedPorts,
      pods: members.map((p) => `${p.meta.namespace}/${p.meta.name}`), egressPolicies: [], ingressPolicies: [],
    };
    podIdentities.push(identity);
    identities.set(identity.id, identity);
  }

  // CIDR identities: every prefix any ipBlock names, sorted by family, address, length.
  const prefixes = new Map<string, Cidr>();
  for (const { policy } of policies) {
    for (const rule of [...(policy.ingress ?? []), ...(policy.egress ?? [])]) {
      if (rule.peers === 'any') continue;
      for (const peer of rule.peers) {
        if (peer.kind !== 'cidr') continue;
        for (const text of [peer.cidr, ...peer.except]) prefixes.set(text, parseCidr(text)!);
      }
    }
  }
  const cidrs = [...prefixes.values()].sort((a, b) => a.family - b.family || (a.base < b.base ? -1 : a.base > b.base ? 1 : a.prefixLength - b.prefixLength));
  const cidrIds = new Map<string, number>();
  for (const cidr of cidrs) {
    const identity: CidrIdentity = { id: next++, kind: 'cidr', cidr: formatCidr(cidr) };
    identities.set(identity.id, identity);
    cidrIds.set(identity.cidr, identity.id);
  }
  // The prefixes by family and length, so an address's longest prefix is one probe per length in use.
  const byLength = new Map<string, number>();
  const lengthsInUse = { 4: new Set<number>(), 6: new Set<number>() };
  for (const cidr of cidrs) {
    byLength.set(`${cidr.family}/${cidr.prefixLength}/${cidr.base}`, cidrIds.get(formatCidr(cidr))!);
    lengthsInUse[cidr.family].add(cidr.prefixLength);
  }
  const descending = { 4: [...lengthsInUse[4]].sort((a, b) => b - a), 6: [...lengthsInUse[6]].sort((a, b) => b - a) };
  const longestPrefix = (ip: string): number => {
    const address = parseAddress(ip);
    if (!address) return L.NP_ID_WORLD;
    const bits = address.family === 4 ? 32 : 128;
    for (const length of descending[address.family]) {
      const size = 1n << BigInt(bits - length);
      const id = byLength.get(`${address.family}/${length}/${address.value - (address.value % size)}`);
      if (id !== undefined) return id;
    }
    return L.NP_ID_WORLD;
  };

  // Addresses: every prefix, and every pod address (with the longest prefix holding it).
  const addrs = new Map<string, { cidr: Cidr; pod: number; cidrId: number }>();
  for (const cidr of cidrs) addrs.set(formatCidr(cidr), { cidr, pod: 0, cidrId: cidrIds.get(formatCidr(cidr))! });
  const identityOfPod = new Map<PodInfo, PodIdentity>();
  for (const identity of podIdentities) for (const name of identity.pods) identityOfPod.set(model.pods.get(name)!, identity);
  for (const [name, pod] of model.pods) {
    const identity = identityOfPod.get(pod)!;
    const ips = pod.ips.length > 0 ? pod.ips : pod.ip ? [pod.ip] : [];
    pods.set(name, { identity: identity.id, cidr: ips[0] ? longestPrefix(ips[0]) : L.NP_ID_WORLD });
    for (const ip of ips) {
      const address = parseAddress(ip);
      if (!address) continue;
      const cidr: Cidr = { family: address.family, base: address.value, prefixLength: address.family === 4 ? 32 : 128, size: 1n };
      const key = formatCidr(cidr);
      const earlier = addrs.get(key);
      if (earlier && earlier.pod !== 0 && earlier.pod !== identity.id) warnings.push(`${name}: address ${ip} is also another pod's: the first one keeps it`);
      if (earlier && earlier.pod !== 0) continue;
      addrs.set(key, { cidr, pod: identity.id, cidrId: earlier ? earlier.cidrId : longestPrefix(ip) });
    }
  }

  // Isolation and rules.
  const rules = new Map<string, RuleRow>();
  const add = (subject: number, peer: number, direction: RuleRow['direction'], protocol: Protocol, first: number, last: number, policy: number) => {
    const key = `${subject}/${peer}/${direction}/${protocol}`;
    let row = rules.get(key);
    if (!row) rules.set(key, (row = { subject, peer, direction, protocol, ranges: [] }));
    row.ranges.push({ first, last, policy });
  };
  for (const info of policies) {
    const { policy } = info;
    const subjects = podIdentities.filter((s) => s.namespace === policy.meta.namespace && selects(policy.podSelector, s.labels));
    for (const direction of ['egress', 'ingress'] as const) {
      const list = policy[direction];
      if (!list) continue;
      for (const subject of subjects) (direction === 'egress' ? subject.egressPolicies : subject.ingressPolicies).push(info.id);
      for (const rule of list) {
        for (const subject of subjects) {
          for (const peer of peersOf(rule, policy, subject, direction)) {
            for (const { protocol, first, last } of portsOf(rule, direction, subject, peer.identity)) add(subject.id, peer.id, direction, protocol, first, last, info.id);
          }
        }
      }
    }
  }

  /** The identities a rule's peers stand for; a pod identity comes with itself, for named ports. */
  function peersOf(rule: NetworkRule, policy: NetworkPolicy, subject: PodIdentity, direction: RuleRow['direction']): { id: number; identity?: PodIdentity }[] {
    if (rule.peers === 'any') {
      const named = rule.ports !== 'all' && rule.ports.some((p) => typeof p.port === 'string');
      // An egress port by name means a port of the destination pod: every pod identity, one by one.
      if (direction === 'egress' && named) return [{ id: L.NP_ID_ANY }, ...podIdentities.map((q) => ({ id: q.id, identity: q }))];
      return [{ id: L.NP_ID_ANY }];
    }
    const out: { id: number; identity?: PodIdentity }[] = [];
    for (const peer of rule.peers) out.push(...peerIdentities(peer, policy));
    void subject;
    return out;
  }

  function peerIdentities(peer: NetworkPeer, policy: NetworkPolicy): { id: number; identity?: PodIdentity }[] {
    if (peer.kind === 'pods') {
      return podIdentities
        .filter((q) => (peer.namespaces ? selects(peer.namespaces, namespaceLabels(model, q.namespace)) : q.namespace === policy.meta.namespace) && selects(peer.pods, q.labels))
        .map((q) => ({ id: q.id, identity: q }));
    }
    const block = parseCidr(peer.cidr)!;
    const except = peer.except.map((e) => parseCidr(e)!);
    const inside = (c: Cidr, outer: Cidr) => c.family === outer.family && c.prefixLength >= outer.prefixLength && c.base >= outer.base && c.base < outer.base + outer.size;
    // cidrs is sorted by family, then base: the prefixes inside the block are one run of it.
    const out: { id: number }[] = [];
    for (let i = firstAtOrAfter(cidrs, block.family, block.base); i < cidrs.length; i++) {
      const c = cidrs[i]!;
      if (c.family !== block.family || c.base >= block.base + block.size) break;
      if (inside(c, block) && !except.some((e) => inside(c, e))) out.push({ id: cidrIds.get(formatCidr(c))! });
    }
    return out;
  }

  /** Port ranges of a rule between `subject` and a peer: named ports resolve at the destination pod. */
  function portsOf(rule: NetworkRule, direction: RuleRow['direction'], subject: PodIdentity, peer: PodIdentity | undefined): { protocol: Protocol; first: number; last: number }[] {
    if (rule.ports === 'all') return ALL_PROTOCOLS.map((protocol) => ({ protocol, first: 0, last: 65535 }));
    const out: { protocol: Protocol; first: number; last: number }[] = [];
    for (const port of rule.ports) {
      const range = portRange(port, direction === 'ingress' ? subject : peer);
      if (range) out.push({ protocol: port.protocol, ...range });
    }
    return out;
  }

  // Rows.
  const rows = new Map<NpMapName, MapRows>(NP_MAPS.map((name) => [name, new Map()]));
  const put = (map: NpMapName, key: Uint8Array, value: Uint8Array) => rows.get(map)!.set(hex(key), { key, value });
  const lengths = { 4: new Set<number>(), 6: new Set<number>() };
  for (const { cidr, pod, cidrId } of addrs.values()) {
    lengths[cidr.family].add(cidr.prefixLength);
    const words = addressWords(formatAddress({ family: cidr.family, value: cidr.base }));
    put('mc_np_addrs', encode(L.NpAddrKey, { addr: words.addr, prefix: cidr.prefixLength, family: cidr.family }), encode(L.NpAddrValue, { pod, cidr: cidrId }));
  }
  for (const family of [4, 6] as const) {
    const base = family === 4 ? 0 : L.NP_PREFIX_V6_BASE;
    const count = family === 4 ? 33 : L.NP_MAX_PREFIXES;
    const sorted = [...lengths[family]].sort((a, b) => b - a);
    for (let i = 0; i < count; i++) {
      const prefix = sorted[i];
      put('mc_np_prefixes', encode(L.ArrayIndex, { index: base + i }), encode(L.NpPrefix, prefix === undefined ? {} : { prefix, used: 1 }));
    }
  }
  let set = 1;
  const ruleRows = [...rules.values()];
  for (const row of ruleRows) {
    row.ranges = normalizeRanges(row.ranges);
    if (row.ranges.length > L.NP_MAX_RANGES) {
      warnings.push(`identity ${row.subject} ${row.direction} peer ${row.peer} ${row.protocol}: ${row.ranges.length} port ranges, at most ${L.NP_MAX_RANGES} are written: the rest are denied`);
      row.ranges = row.ranges.slice(0, L.NP_MAX_RANGES);
    }
  }
  const podIds = new Set(podIdentities.map((i) => i.id));
  const byPodPeer = new Map<number, RuleRow[]>();
  for (const row of ruleRows) {
    if (!podIds.has(row.peer)) continue;
    const list = byPodPeer.get(row.subject) ?? [];
    list.push(row);
    byPodPeer.set(row.subject, list);
  }
  for (const identity of podIdentities) {
    put('mc_np_identities', encode(L.ArrayIndex, { index: identity.id }), encode(L.NpIdentity, {
      egress_policy: identity.egressPolicies[0] ?? 0, ingress_policy: identity.ingressPolicies[0] ?? 0,
      ...inlineRules(byPodPeer.get(identity.id) ?? []), pods_end: L.NP_ID_WORLD + 1 + podIdentities.length,
    }));
  }
  for (const row of ruleRows) {
    put('mc_np_rules', encode(L.NpRuleKey, { subject: row.subject, peer: row.peer, direction: DIRECTION[row.direction], proto: L.IPPROTO[row.protocol] }),
      encode(L.NpRuleValue, { set, count: row.ranges.length, ...(row.ranges[0] ?? {}) }));
    row.ranges.forEach((range, index) => {
      if (index > 0) put('mc_np_ports', encode(L.TableKey, { table: set, index }), encode(L.NpPortRange, range));
    });
    set++;
  }
  const isolated = {
    egress: podIdentities.filter((i) => i.egressPolicies.length > 0).length,
    ingress: podIdentities.filter((i) => i.ingressPolicies.length > 0).length,
  };
  return { rows, identities, policies, pods, rules: ruleRows, isolated, warnings };
}

const INLINE_RULES = 3; // entries of NpIdentity

/**
 * The entries of an identity's row (NpIdentity): its rule rows with a pod peer, direction by
 * direction (egress first), while they fit and each has one port range; a direction is marked
 * complete only when all its rows are there (a row without ranges allows nothing: left out).
 */
function inlineRules(rows: readonly RuleRow[]): Record<string, number> {
  const out: Record<string, number> = {};
  let used = 0;
  for (const direction of ['egress', 'ingress'] as const) {
    const mine = rows.filter((r) => r.direction === direction && r.ranges.length > 0);
    if (mine.some((r) => r.ranges.length > 1) || used + mine.length > INLINE_RULES) continue;
    for (const row of mine) {
      const range = row.ranges[0]!;
      Object.assign(out, {
        [`r${used}_peer`]: row.peer, [`r${used}_policy`]: range.policy, [`r${used}_first`]: range.first, [`r${used}_last`]: range.last,
        [`r${used}_direction`]: DIRECTION[direction], [`r${used}_proto`]: L.IPPROTO[row.protocol],
      });
      used++;
    }
    out[`inline_${direction}`] = 1;
  }
  return out;
}

/** The index of the first prefix of `family` whose base is at least `base` (binary search). */
function firstAtOrAfter(cidrs: readonly Cidr[], family: number, base: bigint): number {
  let lo = 0;
  let hi = cidrs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const c = cidrs[mid]!;
    if (c.family < family || (c.family === family && c.base < base)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A pod's identity key: namespace, labels and named ports, in a canonical order. */
function identityKey(pod: PodInfo): string {
  const labels = Object.entries(pod.meta.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const ports = Object.entries(pod.namedPorts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, p]) => [n, p.port, p.protocol]);
  return JSON.stringify([pod.meta.namespace, labels, ports]);
}

/** A port's range: a number (to endPort), or a name resolved at the destination pod (none: no range). */
function portRange(port: NetworkPort, destination: PodIdentity | undefined): { first: number; last: number } | undefined {
  if (port.port === undefined) return { first: 0, last: 65535 };
  if (typeof port.port === 'number') return { first: port.port, last: port.endPort ?? port.port };
  const named = destination?.namedPorts[port.port];
  if (!named || named.protocol !== port.protocol) return undefined;
  return { first: named.port, last: named.port };
}

/**
 * Ranges sorted, exact duplicates and ranges inside an earlier one dropped (the earlier, lower
 * policy id keeps the credit). When more than fit remain, overlapping and adjacent ones merge.
 */
function normalizeRanges(ranges: RuleRow['ranges']): RuleRow['ranges'] {
  const sorted = [...ranges].sort((a, b) => a.first - b.first || b.last - a.last || a.policy - b.policy);
  const kept: RuleRow['ranges'] = [];
  for (const range of sorted) {
    if (kept.some((k) => k.first <= range.first && k.last >= range.last)) continue;
    kept.push(range);
  }
  if (kept.length <= L.NP_MAX_RANGES) return kept;
  const merged: RuleRow['ranges'] = [];
  for (const range of kept) {
    const last = merged[merged.length - 1];
    if (last && range.first <= last.last + 1) last.last = Math.max(last.last, range.last);
    else merged.push({ ...range });
  }
  return merged;
}
