// Network policy on a node: the agent's part. After each sync it writes the mc_np_* tables (new
// and changed rows first, stale ones removed after) and mc_np_endpoints: every pod's cgroup, and
// every cgroup below it (the containers'), to the pod's identity, found by the pod UID in the
// cgroup's name as kubelet names it (the same rule as meshc.io/skip, src/agent/skip.ts).
import type { Model } from '../model/types.ts';
import type { BpfObject } from '../loader/index.ts';
import { KernelSink } from '../sinks/kernel.ts';
import * as L from '../tables/layouts.ts';
import { encode, hex } from '../tables/codec.ts';
import { cgroupKey, podCgroups } from './skip.ts';
import { compileNetpol, NP_MAPS, npConfigValue, type NetpolTables, type NpMapName } from '../netpol/tables.ts';
import { encodeName, nameKey, readNames } from '../glue/names.ts';
import { netpolNames } from '../netpol/names.ts';

export interface NetpolSyncStats {
  policies: number;
  identities: number;
  written: number;
  removed: number;
  /** Cgroups given a pod identity. */
  cgroups: number;
  warnings: string[];
}

/** The order rows are written in: what rows point at first (port sets, then rules), addresses last. */
const WRITE_ORDER: readonly NpMapName[] = ['mc_np_ports', 'mc_np_rules', 'mc_np_identities', 'mc_np_addrs', 'mc_np_prefixes'];

export class NetpolSync {
  private tables?: NetpolTables;
  private endpoints = new Map<string, Uint8Array>();
  private names = new Map<string, string>();
  /** What mc_np_config says now (an earlier agent's pinned value until the first sync). */
  private isolated?: NetpolTables['isolated'];

  constructor(private readonly obj: BpfObject, private readonly cgroupRoot: string) {
    // Pinned rows of an earlier agent: kept until the first sync, which removes what it does not write.
    const previous = new Map<NpMapName, Map<string, { key: Uint8Array; value: Uint8Array }>>();
    for (const name of ['mc_np_addrs', 'mc_np_rules', 'mc_np_ports'] as const) {
      previous.set(name, new Map(obj.map(name).entries().map(([key, value]) => [hex(key), { key, value }])));
    }
    for (const name of ['mc_np_identities', 'mc_np_prefixes'] as const) previous.set(name, new Map());
    this.tables = { rows: previous } as NetpolTables;
    for (const [key, value] of obj.map('mc_np_endpoints').entries()) this.endpoints.set(key.readBigUInt64LE(0).toString(), value);
    if (obj.maps().some((m) => m.name === 'mc_np_names')) this.names = readNames(obj.map('mc_np_names'));
    const pinned = obj.maps().some((m) => m.name === 'mc_np_config') ? obj.map('mc_np_config').lookup(new Uint8Array(4)) : undefined;
    if (pinned) this.isolated = { egress: pinned.readUInt32LE(0), ingress: pinned.readUInt32LE(4) };
  }

  /** Whether the loaded object has the network policy maps (an object built before them has not). */
  static supported(obj: BpfObject): boolean {
    return obj.maps().some((m) => m.name === 'mc_np_endpoints');
  }

  sync(model: Model): NetpolSyncStats {
    const tables = compileNetpol(model);
    const sink = new KernelSink(this.obj);
    // The switch never says "nothing can deny" while rows that deny are in place: lowered before
    // the rows change, raised after (a count going to 0 applies the new, empty policy at once).
    const before = this.isolated ?? { egress: 0, ingress: 0 };
    this.writeConfig({ egress: Math.min(before.egress, tables.isolated.egress), ingress: Math.min(before.ingress, tables.isolated.ingress) });
    let written = 0;
    let removed = 0;
    for (const name of WRITE_ORDER) {
      const before = this.tables?.rows.get(name);
      const rows = [...tables.rows.get(name)!.values()].filter((row) => {
        const old = before?.get(hex(row.key));
        return !old || hex(old.value) !== hex(row.value);
      });
      sink.write(name, rows);
      written += rows.length;
    }
    for (const name of [...WRITE_ORDER].reverse()) {
      const now = tables.rows.get(name)!;
      const stale = [...(this.tables?.rows.get(name)?.values() ?? [])].filter((row) => !now.has(hex(row.key)));
      sink.remove(name, stale);
      removed += stale.length;
    }
    this.tables = tables;
    const cgroups = this.writeEndpoints(model, tables);
    this.writeConfig(tables.isolated);
    this.writeNames(tables);
    const policies = tables.policies.length;
    return { policies, identities: tables.identities.size, written, removed, cgroups, warnings: tables.warnings };
  }

  /** mc_np_config: the switch the hooks read first (absent in an object built before it). */
  private writeConfig(isolated: NetpolTables['isolated']): void {
    if (!this.obj.maps().some((m) => m.name === 'mc_np_config')) return;
    this.obj.map('mc_np_config').update(new Uint8Array(4), npConfigValue({ isolated }));
    this.isolated = { ...isolated };
  }

  /** mc_np_names: policy and identity names for meshc monitor; changed ones written, gone ones removed. */
  private writeNames(tables: NetpolTables): void {
    if (!this.obj.maps().some((m) => m.name === 'mc_np_names')) return;
    const map = this.obj.map('mc_np_names');
    const next = netpolNames(tables);
    const keyOf = (id: string) => {
      const [kind, n] = id.split(':').map(Number) as [number, number];
      return nameKey(kind, n);
    };
    map.updateBatch([...next].filter(([id, name]) => this.names.get(id) !== name).map(([id, name]) => [keyOf(id), encodeName(name)] as const));
    map.deleteBatch([...this.names.keys()].filter((id) => !next.has(id)).map(keyOf));
    this.names = next;
  }

  /** mc_np_endpoints: each pod's cgroups to its identity; cgroups gone or of other pods removed. */
  private writeEndpoints(model: Model, tables: NetpolTables): number {
    const byUid = new Map<string, Uint8Array>();
    for (const [name, pod] of model.pods) {
      const self = tables.pods.get(name);
      if (pod.meta.uid && self) byUid.set(pod.meta.uid.toLowerCase(), encode(L.NpAddrValue, { pod: self.identity, cidr: self.cidr }));
    }
    const next = new Map<string, Uint8Array>();
    for (const [uid, ids] of podCgroups(this.cgroupRoot, new Set(byUid.keys()))) {
      for (const id of ids) next.set(id.toString(), byUid.get(uid)!);
    }
    const map = this.obj.map('mc_np_endpoints');
    const changed = [...next].filter(([id, value]) => hex(this.endpoints.get(id) ?? new Uint8Array()) !== hex(value));
    map.updateBatch(changed.map(([id, value]) => [cgroupKey(BigInt(id)), value] as const));
    map.deleteBatch([...this.endpoints.keys()].filter((id) => !next.has(id)).map((id) => cgroupKey(BigInt(id))));
    this.endpoints = next;
    return next.size;
  }
}

/** The agent's log lines for one sync. */
export function netpolLog(stats: NetpolSyncStats): string[] {
  const lines = [`network policy: ${stats.policies} policies, ${stats.identities} identities: ${stats.written} rows written, ${stats.removed} removed; ${stats.cgroups} pod cgroups with an identity`];
  for (const w of stats.warnings) lines.push(`network policy: ${w}`);
  return lines;
}

export { NP_MAPS };
