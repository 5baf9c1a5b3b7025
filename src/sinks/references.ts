// Which rows a service row holds in a set of table rows: its backend table (slots, members, Maglev
// ring), its group set and the tables that set names, and the backends of all those tables. The
// apply in steps (apply.ts) counts these holds to know when an old row is free to go. A hold is a
// token for a group of rows that come and go together: `t<table>`, `s<group set>`, `b<backend id>`.
import * as L from '../tables/layouts.ts';
import type { MapName } from '../tables/layouts.ts';
import type { TableState } from './sink.ts';

/** One row of one map, by the hex of its key. */
export type RowRef = readonly [MapName, string];

const TABLE_MAPS = ['mc_slots', 'mc_members', 'mc_maglev'] as const;

function offsetOf(spec: L.StructSpec, field: string): number {
  const found = spec.fields.find((f) => f.name === field);
  if (!found || found.type !== 'u32') throw new Error(`${spec.name}.${field}: not a u32 field`);
  return found.offset;
}

const AT = {
  serviceTable: offsetOf(L.ServiceValue, 'table'),
  serviceGroups: offsetOf(L.ServiceValue, 'groups'),
  tableKeyTable: offsetOf(L.TableKey, 'table'),
  slotBackend: offsetOf(L.TableValue, 'value'),
  groupKeySet: offsetOf(L.GroupKey, 'set'),
  groupTable: offsetOf(L.Group, 'table'),
  backendIndex: offsetOf(L.ArrayIndex, 'index'),
};

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** The token of the group a row (not a service row) belongs to. */
export function tokenOf(map: MapName, key: Uint8Array): string {
  if (map === 'mc_backends') return `b${u32(key, AT.backendIndex)}`;
  if (map === 'mc_groups') return `s${u32(key, AT.groupKeySet)}`;
  return `t${u32(key, AT.tableKeyTable)}`;
}

export class References {
  private readonly rowsByToken = new Map<string, RowRef[]>();
  private readonly tableBackends = new Map<number, Set<number>>();
  private readonly setTables = new Map<number, Set<number>>();

  constructor(private readonly state: TableState) {
    for (const map of TABLE_MAPS) {
      for (const [key, row] of state.get(map) ?? []) {
        const table = u32(row.key, AT.tableKeyTable);
        push(this.rowsByToken, `t${table}`, [map, key] as const);
        if (map === 'mc_slots') add(this.tableBackends, table, u32(row.value, AT.slotBackend));
      }
    }
    for (const [key, row] of state.get('mc_groups') ?? []) {
      const set = u32(row.key, AT.groupKeySet);
      push(this.rowsByToken, `s${set}`, ['mc_groups', key] as const);
      const table = u32(row.value, AT.groupTable);
      if (table !== 0) add(this.setTables, set, table);
    }
    for (const [key, row] of state.get('mc_backends') ?? []) push(this.rowsByToken, `b${u32(row.key, AT.backendIndex)}`, ['mc_backends', key] as const);
  }

  /** The groups (of this state) that a service row with `value` reads. */
  holds(value: Uint8Array): string[] {
    const tables = new Set<number>([u32(value, AT.serviceTable)]);
    const set = u32(value, AT.serviceGroups);
    const tokens: string[] = [];
    if (set !== 0) {
      tokens.push(`s${set}`);
      for (const table of this.setTables.get(set) ?? []) tables.add(table);
    }
    const backends = new Set<number>();
    for (const table of tables) {
      tokens.push(`t${table}`);
      for (const id of this.tableBackends.get(table) ?? []) backends.add(id);
    }
    for (const id of backends) tokens.push(`b${id}`);
    return tokens.filter((token) => this.rowsByToken.has(token));
  }

  /** The rows of one group. */
  rows(token: string): readonly RowRef[] {
    return this.rowsByToken.get(token) ?? [];
  }

  /** Groups that no service row of this state holds (group sets of rules a proxy decides, their tables). */
  unheld(): string[] {
    const held = new Set<string>();
    for (const row of this.state.get('mc_services')?.values() ?? []) for (const token of this.holds(row.value)) held.add(token);
    return [...this.rowsByToken.keys()].filter((token) => !held.has(token));
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function add<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}
