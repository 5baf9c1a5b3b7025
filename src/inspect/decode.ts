// `meshc inspect`'s core: from the raw rows of meshc's maps to services, their backends and their
// weighted groups, with the Kubernetes names beside the ids. Pure: the rows come from pinned maps
// (src/inspect/read.ts) or straight from compileTables (the unit tests).
import { decode, hostPort, wordsAddress, type RowOf } from '../tables/codec.ts';
import { MC_NAME } from '../generated/glue.ts';
import { METRIC_NAMES } from '../glue/counters.ts';
import { nameId } from '../glue/names.ts';
import { fieldReaders, wordsReader } from './fields.ts';
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
  /** Where connections are decided: in the kernel (L4) or by the node proxy (L7), and why. */
  serving: { layer: 'L4' | 'L7'; proxy?: string; why: string };
}

export interface InspectResult {
  services: InspectService[];
  /** Rows that point at missing rows: never expected while the agent is healthy. */
  problems: string[];
  metrics?: Record<string, string>;
}

const ALGORITHM_NAMES = new Map<number, string>(Object.entries(L.ALG).map(([name, n]) => [n, name]));
const FLAG_NAMES = Object.entries(L.SVC_F).map(([name, bit]): [number, string] => [bit, name]);

/** Rows by (table or set, index): a table's rows are few and dense from 0, so an array each. */
class Indexed<T> {
  private readonly byTable = new Map<number, T[]>();

  set(table: number, index: number, value: T): void {
    let list = this.byTable.get(table);
    if (!list) this.byTable.set(table, (list = []));
    list[index] = value;
  }

  get(table: number, index: number): T | undefined {
    return this.byTable.get(table)?.[index];
  }
}

const TABLE_KEY = fieldReaders(L.TableKey, ['table', 'index']);
const TABLE_VALUE = fieldReaders(L.TableValue, ['value']);
const ARRAY_INDEX = fieldReaders(L.ArrayIndex, ['index']);
const BACKEND = fieldReaders(L.Backend, ['port', 'state', 'family']);
const BACKEND_ADDR = wordsReader(L.Backend, 'addr');
const SERVICE_KEY = fieldReaders(L.ServiceKey, ['port', 'proto', 'family']);
const SERVICE_KEY_ADDR = wordsReader(L.ServiceKey, 'addr');
const SERVICE_VALUE = fieldReaders(L.ServiceValue, ['id', 'table', 'ready', 'term', 'algorithm', 'flags', 'group_count', 'affinity_timeout', 'groups', 'weight_total']);

// Linear in the rows: each row is read once, in place (fields.ts), and found again by number,
// never through a string built for the purpose; bench/inspect.ts has the figures.
class Decoder {
  readonly problems: string[] = [];
  private readonly slots = new Indexed<number>();
  /** mc_backends values by backend id, unused ids left out. */
  private readonly backends = new Map<number, Uint8Array>();
  private readonly groups = new Indexed<RowOf<typeof L.Group>>();

  constructor(private readonly input: InspectInput) {
    for (const row of input.rows.get('mc_slots') ?? []) this.slots.set(TABLE_KEY.table(row.key), TABLE_KEY.index(row.key), TABLE_VALUE.value(row.value));
    for (const row of input.rows.get('mc_backends') ?? []) {
      if (BACKEND.state(row.value) !== L.BACKEND.empty) this.backends.set(ARRAY_INDEX.index(row.key), row.value);
    }
    for (const row of input.rows.get('mc_groups') ?? []) {
      const key = decode(L.GroupKey, row.key);
      this.groups.set(Number(key.set), Number(key.index), decode(L.Group, row.value));
    }
  }

  /** The slots of one backend table: `ready` ready ones, then `term` serving-terminating ones. */
  pool(table: number, ready: number, term: number, owner: string): InspectBackend[] {
    const list: InspectBackend[] = [];
    for (let slot = 0; slot < ready + term; slot++) {
      const id = this.slots.get(table, slot);
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
        ip: wordsAddress({ addr: BACKEND_ADDR(backend) }, BACKEND.family(backend)),
        port: hostPort(BACKEND.port(backend)),
        state: slot < ready ? 'ready' : 'terminating',
        pod: this.input.names.get(nameId(MC_NAME.backend, id)) ?? null,
        conns: this.input.conns.get(id) ?? 0,
      });
    }
    return list;
  }

  group(set: number, index: number, previousEnd: number, owner: string): { group: Omit<InspectGroup, 'percent' | 'targets'>; end: number } | undefined {
    const row = this.groups.get(set, index);
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
  for (const { key: k, value: v } of input.rows.get('mc_services') ?? []) {
    const family = SERVICE_KEY.family(k) === 6 ? 6 : 4;
    const vip = wordsAddress({ addr: SERVICE_KEY_ADDR(k) }, family);
    const port = hostPort(SERVICE_KEY.port(k));
    const protocol = L.protocolName(SERVICE_KEY.proto(k));
    const id = SERVICE_VALUE.id(v);
    const name = input.names.get(nameId(MC_NAME.service, id)) ?? null;
    const owner = name ?? `${vip}:${port}/${protocol}`;
    const flagBits = SERVICE_VALUE.flags(v);
    const flags = flagNames(flagBits);
    const table = SERVICE_VALUE.table(v);
    const groups: InspectService['groups'] = [];
    let end = 0;
    for (let index = 0; index < SERVICE_VALUE.group_count(v); index++) {
      const next = decoder.group(SERVICE_VALUE.groups(v), index, end, owner);
      if (!next) continue;
      end = next.end;
      groups.push({ ...next.group, percent: 0, targets: [] });
    }
    const total = SERVICE_VALUE.weight_total(v);
    if (groups.length > 0 && total !== end) decoder.problems.push(`${owner}: weight_total ${total} but the groups end at ${end}`);
    for (const g of groups) g.percent = total > 0 ? (100 * g.weight) / total : 0;
    const backends = decoder.pool(table, SERVICE_VALUE.ready(v), SERVICE_VALUE.term(v), owner);
    services.push({
      id,
      vip,
      port,
      protocol,
      family,
      name,
      algorithm: ALGORITHM_NAMES.get(SERVICE_VALUE.algorithm(v)) ?? `algorithm-${SERVICE_VALUE.algorithm(v)}`,
      flags,
      ...((flagBits & L.SVC_F.affinity) !== 0 ? { affinityTimeout: SERVICE_VALUE.affinity_timeout(v) } : {}),
      table,
      backends,
      groups,
      serving: servingOf(flagBits, groups.length, backends),
    });
  }
  // A group's backend table is shared with the frontend of the Service its backendRef names.
  const byTable = new Map<number, Set<string>>();
  for (const s of services) {
    let names = byTable.get(s.table);
    if (!names) byTable.set(s.table, (names = new Set()));
    names.add(s.name ?? `${s.vip}:${s.port}/${s.protocol}`);
  }
  const sortedTargets = new Map<number, string[]>();
  const targetsOf = (table: number) => {
    let names = sortedTargets.get(table);
    if (!names) sortedTargets.set(table, (names = [...(byTable.get(table) ?? [])].sort()));
    return [...names];
  };
  for (const s of services) {
    for (const g of s.groups) if (!g.invalid) g.targets = targetsOf(g.table);
  }
  // By Service (`namespace/name`), then port, protocol and address; nameless frontends last. One
  // key per frontend, made once: \u0000 sorts before any character of a name, and the port is
  // zero-padded so that text order is number order.
  const keyed = services.map((s) => {
    const service = s.name === null ? '\uffff' : s.name.slice(0, s.name.lastIndexOf(':'));
    return { key: `${service}\u0000${String(s.port).padStart(5, '0')}\u0000${s.protocol}\u0000${s.vip}`, s };
  });
  keyed.sort((a, b) => compareText(a.key, b.key));
  const result: InspectResult = { services: keyed.map((k) => k.s), problems: decoder.problems };
  if (input.metrics) {
    result.metrics = Object.fromEntries(METRIC_NAMES.map(([index, label]) => [label, String(input.metrics![index] ?? 0n)]));
  }
  return result;
}

/**
 * What the rows say about where a frontend is decided. The agent steers an L7 frontend (its
 * producer HTTPRoutes need the HTTP request) to the node proxy with a row of no groups and one
 * backend, the listener; an L7 frontend with groups is decided in the kernel on its catch-all rule
 * (no node proxy serves it). Which rule needs HTTP is in the agent's log.
 */
function servingOf(flags: number, groups: number, backends: InspectBackend[]): InspectService['serving'] {
  if ((flags & L.SVC_F.l7) === 0) {
    return { layer: 'L4', why: groups > 0 ? 'decided in the kernel at connect(): its HTTPRoute rules are catch-all (weights per connection)' : 'decided in the kernel at connect(): no HTTPRoute needs the HTTP request' };
  }
  if (groups === 0 && backends.length === 1) {
    const b = backends[0]!;
    const proxy = b.ip.includes(':') ? `[${b.ip}]:${b.port}` : `${b.ip}:${b.port}`;
    return { layer: 'L7', proxy, why: `served by the node proxy at ${proxy}: its HTTPRoute rules need the HTTP request (the agent's log names the rule)` };
  }
  return { layer: 'L7', why: 'its HTTPRoute rules need the HTTP request, but no node proxy serves it: decided in the kernel on the catch-all rule only' };
}

const flagLists = new Map<number, string[]>();

/** The names of the SVC_F bits set in `bits` (a fresh array; the names are computed once per value). */
function flagNames(bits: number): string[] {
  let names = flagLists.get(bits);
  if (!names) flagLists.set(bits, (names = FLAG_NAMES.filter(([bit]) => (bits & bit) !== 0).map(([, flag]) => flag)));
  return [...names];
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
