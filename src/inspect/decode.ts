// `meshc inspect`'s core: from the raw rows of meshc's maps to services, their backends and their
// weighted groups, with the Kubernetes names beside the ids. Pure: the rows come from pinned maps
// (src/inspect/read.ts) or straight from compileTables (the unit tests).
import { decode, hostPort, wordsAddress, type RowOf } from '../tables/codec.ts';
import { MC_NAME } from '../generated/glue.ts';
import { METRIC_NAMES } from '../glue/counters.ts';
import { nameId } from '../glue/names.ts';
import * as L from '../tables/layouts.ts';
import type { TableRow } from '../tables/compile.ts';

/** The rows inspect reads: the policy's maps by name, mc_names by `kind:id`, mc_conns by backend id. */
export interface InspectInput {
  rows: ReadonlyMap<L.MapName, Iterable<TableRow>>;
  names: ReadonlyMap<string, string>;
  /** Live connections per backend id; absent ids have none. */
  conns: ReadonlyMap<number, number>;
  /** Summed mc_metrics counters by index, when read. */
  metrics?: readonly bigint[];
}

export type BackendState = 'ready' | 'terminating';

export interface InspectBackend {
  /** Index in the pool's slot table (ready slots first, then serving-terminating ones). */
  slot: number;
  id: number;
  ip: string;
  port: number;
  state: BackendState;
  /** `namespace/pod` from mc_names, or null when the agent wrote none. */
  pod: string | null;
  conns: number;
}

export interface InspectGroup {
  index: number;
  weight: number;
  /** Share of the rule's traffic, in percent. */
  percent: number;
  /** The backendRef could not be resolved: its share of connections is refused. */
  invalid: boolean;
  table: number;
  /** Names of the service frontends whose backend table this group uses (usually one). */
  targets: string[];
  backends: InspectBackend[];
}

export interface InspectService {
  id: number;
  vip: string;
  port: number;
  protocol: string;
  family: 4 | 6;
  /** `namespace/name:port/PROTO` from mc_names, or null. */
  name: string | null;
  algorithm: string;
  flags: string[];
  /** Session affinity timeout in seconds (when the affinity flag is set). */
  affinityTimeout?: number;
  table: number;
  backends: InspectBackend[];
  /** Weighted groups of the route rule a plain connection takes; empty without a route. */
  groups: InspectGroup[];
}

export interface InspectResult {
  services: InspectService[];
  /** Rows that point at missing rows: never expected while the agent is healthy. */
  problems: string[];
  metrics?: Record<string, string>;
}

const ALGORITHM_NAMES = new Map<number, string>(Object.entries(L.ALG).map(([name, n]) => [n, name]));
const FLAG_NAMES = Object.entries(L.SVC_F).map(([name, bit]): [number, string] => [bit, name]);

function tableKey(table: number, index: number): string {
  return `${table}:${index}`;
}

class Decoder {
  readonly problems: string[] = [];
  private readonly slots = new Map<string, number>();
  private readonly backends = new Map<number, RowOf<typeof L.Backend>>();
  private readonly groups = new Map<string, RowOf<typeof L.Group>>();

  constructor(private readonly input: InspectInput) {
    for (const row of input.rows.get('mc_slots') ?? []) {
      const key = decode(L.TableKey, row.key);
      this.slots.set(tableKey(Number(key.table), Number(key.index)), Number(decode(L.TableValue, row.value).value));
    }
    for (const row of input.rows.get('mc_backends') ?? []) {
      const backend = decode(L.Backend, row.value);
      if (Number(backend.state) === L.BACKEND.empty) continue;
      this.backends.set(Number(decode(L.ArrayIndex, row.key).index), backend);
    }
    for (const row of input.rows.get('mc_groups') ?? []) {
      const key = decode(L.GroupKey, row.key);
      this.groups.set(tableKey(Number(key.set), Number(key.index)), decode(L.Group, row.value));
    }
  }

  /** The slots of one backend table: `ready` ready ones, then `term` serving-terminating ones. */
  pool(table: number, ready: number, term: number, owner: string): InspectBackend[] {
    const list: InspectBackend[] = [];
    for (let slot = 0; slot < ready + term; slot++) {
      const id = this.slots.get(tableKey(table, slot));
      if (id === undefined) {
        this.problems.push(`${owner}: table ${table} slot ${slot}: no mc_slots row`);
        continue;
      }
      const backend = this.backends.get(id);
      if (!backend) {
        this.problems.push(`${owner}: table ${table} slot ${slot}: backend ${id} has no mc_backends row`);
        continue;
      }
      list.push({
        slot,
        id,
        ip: wordsAddress(backend, Number(backend.family)),
        port: hostPort(Number(backend.port)),
        state: slot < ready ? 'ready' : 'terminating',
        pod: this.input.names.get(nameId(MC_NAME.backend, id)) ?? null,
        conns: this.input.conns.get(id) ?? 0,
      });
    }
    return list;
  }

  group(set: number, index: number, previousEnd: number, owner: string): { group: Omit<InspectGroup, 'percent' | 'targets'>; end: number } | undefined {
    const row = this.groups.get(tableKey(set, index));
    if (!row) {
      this.problems.push(`${owner}: group set ${set} index ${index}: no mc_groups row`);
      return undefined;
    }
    const end = Number(row.weight_end);
    const invalid = (Number(row.flags) & L.GROUP_F_INVALID) !== 0;
    const table = Number(row.table);
    const backends = invalid ? [] : this.pool(table, Number(row.ready), Number(row.term), `${owner} group ${index}`);
    return { group: { index, weight: end - previousEnd, invalid, table, backends }, end };
  }
}

/** Decodes every service frontend with its backends and groups, sorted by name, then address. */
export function decodeServices(input: InspectInput): InspectResult {
  const decoder = new Decoder(input);
  const services: InspectService[] = [];
  for (const row of input.rows.get('mc_services') ?? []) {
    const key = decode(L.ServiceKey, row.key);
    const value = decode(L.ServiceValue, row.value);
    const family = Number(key.family) === 6 ? 6 : 4;
    const vip = wordsAddress(key, family);
    const port = hostPort(Number(key.port));
    const protocol = L.protocolName(Number(key.proto));
    const id = Number(value.id);
    const name = input.names.get(nameId(MC_NAME.service, id)) ?? null;
    const owner = name ?? `${vip}:${port}/${protocol}`;
    const flagBits = Number(value.flags);
    const flags = FLAG_NAMES.filter(([bit]) => (flagBits & bit) !== 0).map(([, flag]) => flag);
    const table = Number(value.table);
    const groups: InspectService['groups'] = [];
    let end = 0;
    for (let index = 0; index < Number(value.group_count); index++) {
      const next = decoder.group(Number(value.groups), index, end, owner);
      if (!next) continue;
      end = next.end;
      groups.push({ ...next.group, percent: 0, targets: [] });
    }
    const total = Number(value.weight_total);
    if (groups.length > 0 && total !== end) decoder.problems.push(`${owner}: weight_total ${total} but the groups end at ${end}`);
    for (const g of groups) g.percent = total > 0 ? (100 * g.weight) / total : 0;
    services.push({
      id,
      vip,
      port,
      protocol,
      family,
      name,
      algorithm: ALGORITHM_NAMES.get(Number(value.algorithm)) ?? `algorithm-${value.algorithm}`,
      flags,
      ...((flagBits & L.SVC_F.affinity) !== 0 ? { affinityTimeout: Number(value.affinity_timeout) } : {}),
      table,
      backends: decoder.pool(table, Number(value.ready), Number(value.term), owner),
      groups,
    });
  }
  // A group's backend table is shared with the frontend of the Service its backendRef names.
  const byTable = new Map<number, string[]>();
  for (const s of services) byTable.set(s.table, [...(byTable.get(s.table) ?? []), s.name ?? `${s.vip}:${s.port}/${s.protocol}`]);
  for (const s of services) {
    for (const g of s.groups) if (!g.invalid) g.targets = [...new Set(byTable.get(g.table) ?? [])].sort();
  }
  // By Service (`namespace/name`), then port and address; nameless frontends last.
  const serviceOf = (s: InspectService) => (s.name === null ? '\uffff' : s.name.slice(0, s.name.lastIndexOf(':')));
  services.sort((a, b) =>
    compareText(serviceOf(a), serviceOf(b)) || a.port - b.port || compareText(a.protocol, b.protocol) || compareText(a.vip, b.vip),
  );
  const result: InspectResult = { services, problems: decoder.problems };
  if (input.metrics) {
    result.metrics = Object.fromEntries(METRIC_NAMES.map(([index, label]) => [label, String(input.metrics![index] ?? 0n)]));
  }
  return result;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
