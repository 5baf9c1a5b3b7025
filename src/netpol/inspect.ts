// `meshc inspect`'s network policy part: the identities, the rules and the denials counted, read
// from the mc_np_* maps and named with mc_np_names.
import { possibleCpus, type BpfMap } from '../loader/index.ts';
import { readNames } from '../glue/names.ts';
import { decode } from '../tables/codec.ts';
import * as L from '../tables/layouts.ts';
import { protocolName } from '../tables/layouts.ts';
import { NP_NAME } from './names.ts';
import { NP_REASON_NAMES } from './wasm.ts';

export interface NetpolInspect {
  identities: { id: number; name: string | null; egressPolicy: number; ingressPolicy: number }[];
  rules: { subject: number; peer: number; peerName: string | null; direction: 'egress' | 'ingress'; protocol: string; ports: { first: number; last: number; policy: number }[] }[];
  policies: Record<number, string>;
  denied: Record<string, number>;
}

/** Reads the network policy maps through `map` (undefined for a map that is not there). */
export function readNetpol(map: (name: string) => BpfMap | undefined): NetpolInspect | undefined {
  const rulesMap = map('mc_np_rules');
  if (!rulesMap) return undefined;
  const names = map('mc_np_names') ? readNames(map('mc_np_names')!) : new Map<string, string>();
  const name = (kind: number, id: number) => names.get(`${kind}:${id}`) ?? null;
  const policies: Record<number, string> = {};
  for (const [key, text] of names) if (key.startsWith(`${NP_NAME.policy}:`)) policies[Number(key.slice(2))] = text;
  const identities: NetpolInspect['identities'] = [];
  const identityMap = map('mc_np_identities')!;
  for (const key of names.keys()) {
    if (!key.startsWith(`${NP_NAME.identity}:`)) continue;
    const id = Number(key.slice(2));
    const value = identityMap.lookup(new Uint8Array(new Uint32Array([id]).buffer));
    const row = value ? decode(L.NpIdentity, value) : { egress_policy: 0, ingress_policy: 0 };
    identities.push({ id, name: name(NP_NAME.identity, id), egressPolicy: row.egress_policy, ingressPolicy: row.ingress_policy });
  }
  identities.sort((a, b) => a.id - b.id);
  const ports = new Map(map('mc_np_ports')!.entries().map(([k, v]) => {
    const key = decode(L.TableKey, k);
    return [`${key.table}:${key.index}`, decode(L.NpPortRange, v)];
  }));
  const rules: NetpolInspect['rules'] = rulesMap.entries().map(([k, v]) => {
    const key = decode(L.NpRuleKey, k);
    const value = decode(L.NpRuleValue, v);
    const first = value.count > 0 ? [{ first: value.first, last: value.last, policy: value.policy }] : [];
    const ranges = [...first, ...Array.from({ length: Math.max(0, value.count - 1) }, (_, i) => ports.get(`${value.set}:${i + 1}`)).filter((r) => r !== undefined)];
    return {
      subject: key.subject, peer: key.peer,
      peerName: key.peer === L.NP_ID_ANY ? 'any peer' : name(NP_NAME.identity, key.peer),
      direction: key.direction === L.NP_DIR_EGRESS ? 'egress' as const : 'ingress' as const,
      protocol: protocolName(key.proto),
      ports: ranges.map((r) => ({ first: r.first, last: r.last, policy: r.policy })),
    };
  }).sort((a, b) => a.subject - b.subject || a.direction.localeCompare(b.direction) || a.peer - b.peer || a.protocol.localeCompare(b.protocol));
  const denied: Record<string, number> = {};
  const metrics = map('mc_np_metrics');
  if (metrics) {
    for (let reason = 0; reason < L.NP_REASON_COUNT; reason++) {
      const value = metrics.lookup(new Uint8Array(new Uint32Array([reason]).buffer));
      if (!value) continue;
      let sum = 0;
      for (let cpu = 0; cpu < possibleCpus(); cpu++) sum += Number(value.readBigUInt64LE(cpu * 8));
      if (sum > 0) denied[NP_REASON_NAMES[reason] ?? `reason-${reason}`] = sum;
    }
  }
  return { identities, rules, policies, denied };
}

export function formatNetpol(result: NetpolInspect): string {
  const lines = ['', `Network policy: ${Object.keys(result.policies).length} policies, ${result.identities.length} identities, ${result.rules.length} rule rows`];
  for (const i of result.identities) {
    const isolated = [i.egressPolicy ? `egress by ${result.policies[i.egressPolicy] ?? i.egressPolicy}` : '', i.ingressPolicy ? `ingress by ${result.policies[i.ingressPolicy] ?? i.ingressPolicy}` : ''].filter(Boolean);
    lines.push(`  identity ${i.id}: ${i.name ?? '?'}${isolated.length ? ` (isolated: ${isolated.join('; ')})` : ''}`);
  }
  for (const r of result.rules) {
    const ports = r.ports.map((p) => `${p.first === 0 && p.last === 65535 ? 'all' : p.first === p.last ? p.first : `${p.first}-${p.last}`} (${result.policies[p.policy] ?? `policy ${p.policy}`})`).join(', ');
    lines.push(`  rule ${r.direction} ${r.subject} ${r.direction === 'egress' ? '->' : '<-'} ${r.peer} ${r.peerName ?? ''} ${r.protocol}: ${ports}`);
  }
  const denied = Object.entries(result.denied).map(([k, v]) => `${k} ${v}`).join(', ');
  lines.push(`  denied: ${denied || 'none'}`);
  return `${lines.join('\n')}\n`;
}
