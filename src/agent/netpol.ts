// Network policy on a node: the agent's part. After each sync it writes the mc_np_* tables (new
// and changed rows first, stale ones removed after) and mc_np_endpoints: every pod's cgroup, and
// every cgroup below it (the containers'), to the pod's identity, found by the pod UID in the
// cgroup's name as kubelet names it (the same rule as meshc.io/skip, src/agent/skip.ts). It
// attaches the ingress check (mc_np_ingress, cgroup_skb) to each such pod's own cgroup, with a
// link pinned as <links>/<program>-pod-<uid>, detached when the pod goes; and writes mc_np_host,
// this node's addresses, which pass that check.
import { existsSync, readdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { openPinnedLink, type BpfLink } from '../loader/index.ts';
import { stillAttached } from './links.ts';
import type { Model } from '../model/types.ts';
import type { BpfObject } from '../loader/index.ts';
import { KernelSink } from '../sinks/kernel.ts';
import * as L from '../tables/layouts.ts';
import { addressWords, encode, hex } from '../tables/codec.ts';
import { cgroupKey, podCgroups, skippedPodUids } from './skip.ts';
import { compileNetpol, NP_MAPS, npConfigValue, readNpConfig, type NetpolTables, type NpMapName } from '../netpol/tables.ts';
import { encodeName, nameKey, readNames } from '../glue/names.ts';
import { netpolNames } from '../netpol/names.ts';

export interface NetpolSyncStats {
  policies: number;
  identities: number;
  written: number;
  removed: number;
  /** Cgroups given a pod identity. */
  cgroups: number;
  /** Pod cgroups the ingress check is attached to. */
  ingress: number;
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

  /** The ingress check's links by pin name (<program>-pod-<uid>). */
  private podLinks = new Map<string, BpfLink>();
  private host = new Map<string, Uint8Array>();

  /** `linksDir`: where the ingress check's links are pinned (without it, it is not attached). */
  constructor(private readonly obj: BpfObject, private readonly cgroupRoot: string, private readonly linksDir?: string) {
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
    if (pinned) this.isolated = readNpConfig(pinned);
    // An earlier agent's ingress links: kept while their pods are there (the first sync decides).
    const programs = endpointProgramNames(obj);
    if (linksDir && existsSync(linksDir)) {
      for (const name of readdirSync(linksDir)) {
        if (programs.some((p) => name.startsWith(`${p}-pod-`))) this.podLinks.set(name, openPinnedLink(join(linksDir, name)));
      }
    }
    if (obj.maps().some((m) => m.name === 'mc_np_host')) {
      for (const [key] of obj.map('mc_np_host').entries()) this.host.set(hex(key), key);
    }
  }

  /** Releases the ingress links' handles; pinned, they stay attached. */
  close(): void {
    for (const link of this.podLinks.values()) link.close();
    this.podLinks.clear();
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
    const warnings = [...tables.warnings];
    const { cgroups, ingress } = this.writeEndpoints(model, tables, warnings);
    this.writeHost();
    this.writeConfig(tables.isolated);
    this.writeNames(tables);
    const policies = tables.policies.length;
    return { policies, identities: tables.identities.size, written, removed, cgroups, ingress, warnings };
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
  private writeEndpoints(model: Model, tables: NetpolTables, warnings: string[]): { cgroups: number; ingress: number } {
    const byUid = new Map<string, Uint8Array>();
    for (const [name, pod] of model.pods) {
      const self = tables.pods.get(name);
      if (pod.meta.uid && self) byUid.set(pod.meta.uid.toLowerCase(), encode(L.NpAddrValue, { pod: self.identity, cidr: self.cidr }));
    }
    const next = new Map<string, Uint8Array>();
    const dirs = new Map<string, string>();
    for (const [uid, ids] of podCgroups(this.cgroupRoot, new Set(byUid.keys()), dirs)) {
      for (const id of ids) next.set(id.toString(), byUid.get(uid)!);
    }
    const map = this.obj.map('mc_np_endpoints');
    const changed = [...next].filter(([id, value]) => hex(this.endpoints.get(id) ?? new Uint8Array()) !== hex(value));
    map.updateBatch(changed.map(([id, value]) => [cgroupKey(BigInt(id)), value] as const));
    map.deleteBatch([...this.endpoints.keys()].filter((id) => !next.has(id)).map((id) => cgroupKey(BigInt(id))));
    this.endpoints = next;
    // Pods that opted out (meshc.io/skip) are left alone, the ingress check included.
    for (const uid of skippedPodUids(model)) dirs.delete(uid);
    return { cgroups: next.size, ingress: this.attachIngress(dirs, warnings) };
  }

  /**
   * The ingress check on each pod's own cgroup (`dirs`, by UID; the containers' cgroups below
   * inherit it), never on the routed root: links kept while attached there, attached and pinned
   * for new pods, detached for pods gone. Returns how many pods have it.
   */
  private attachIngress(dirs: Map<string, string>, warnings: string[]): number {
    if (!this.linksDir) return 0;
    const programs = endpointProgramNames(this.obj);
    const wanted = new Map<string, { program: string; dir: string }>();
    for (const [uid, dir] of dirs) for (const program of programs) wanted.set(`${program}-pod-${uid}`, { program, dir });
    for (const [name, link] of this.podLinks) {
      const want = wanted.get(name);
      let attached = false;
      try {
        attached = want !== undefined && stillAttached(link, want.dir);
      } catch {
        attached = false; // the cgroup went away while we looked
      }
      if (attached) continue;
      try {
        link.detach(); // unpins it too
      } catch {
        link.close(); // already unpinned or detached from outside (meshc agent --detach)
      }
      this.podLinks.delete(name);
    }
    let attached = 0;
    for (const [name, { program, dir }] of wanted) {
      if (this.podLinks.has(name)) {
        attached++;
        continue;
      }
      try {
        const link = this.obj.program(program).attachCgroup(dir);
        this.podLinks.set(name, link);
        link.pin(join(this.linksDir, name));
        attached++;
      } catch (error) {
        // A pod cgroup that went away while we looked; else reported and retried next sync.
        if (existsSync(dir)) warnings.push(`${program} not attached to ${dir}: ${(error as Error).message} (retried on the next sync)`);
      }
    }
    return attached;
  }

  /** mc_np_host: this node's own addresses, which pass the ingress check. */
  private writeHost(): void {
    if (!this.obj.maps().some((m) => m.name === 'mc_np_host')) return;
    const next = new Map<string, Uint8Array>();
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) {
        const words = addressWords(a.address.split('%')[0]!);
        const key = encode(L.NpAddrKey, { addr: words.addr, family: words.family, prefix: words.family === 6 ? 128 : 32 });
        next.set(hex(key), key);
      }
    }
    const map = this.obj.map('mc_np_host');
    map.updateBatch([...next].filter(([id]) => !this.host.has(id)).map(([, key]) => [key, new Uint8Array([1])] as const));
    map.deleteBatch([...this.host].filter(([id]) => !next.has(id)).map(([, key]) => key));
    this.host = next;
  }
}

/** Names of the programs that go on endpoint pods' cgroups (cgroup_skb: the ingress check). */
function endpointProgramNames(obj: BpfObject): string[] {
  return obj.programs().filter((p) => p.type === 'cgroup_skb' && p.attachType).map((p) => p.name);
}

/** The agent's log lines for one sync. */
export function netpolLog(stats: NetpolSyncStats): string[] {
  const lines = [`network policy: ${stats.policies} policies, ${stats.identities} identities: ${stats.written} rows written, ${stats.removed} removed; ${stats.cgroups} pod cgroups with an identity, the ingress check on ${stats.ingress} pods`];
  for (const w of stats.warnings) lines.push(`network policy: ${w}`);
  return lines;
}

export { NP_MAPS };
