// After a restart the agent adopts what its previous run left in the pinned maps: the ids of
// services and backends (rows that live connections still read keep their ids), and the highest
// table and group-set revisions, so new revisions never collide with live ones.
import { decode, hostPort, wordsAddress } from '../tables/codec.ts';
import * as L from '../tables/layouts.ts';
import type { TableIds } from '../tables/ids.ts';
import type { TableState } from '../sinks/sink.ts';


export function adoptIds(state: TableState, ids: TableIds): void {
  adoptServicesAndBackends(state, ids);
  let maxTable = 0;
  let maxSet = 0;
  for (const row of state.get('mc_services')!.values()) {
    const value = decode(L.ServiceValue, row.value);
    maxTable = Math.max(maxTable, Number(value.table));
    maxSet = Math.max(maxSet, Number(value.groups));
  }
  for (const name of ['mc_slots', 'mc_members', 'mc_maglev'] as const) {
    for (const row of state.get(name)!.values()) maxTable = Math.max(maxTable, Number(decode(L.TableKey, row.key).table));
  }
  for (const row of state.get('mc_groups')!.values()) {
    maxSet = Math.max(maxSet, Number(decode(L.GroupKey, row.key).set));
    maxTable = Math.max(maxTable, Number(decode(L.Group, row.value).table));
  }
  // Placeholders hold the revision counters above every live revision; the first compile's
  // retain() drops them, and revisions are never reused.
  if (maxTable > 0) ids.tables.adopt(`adopted-revision-${maxTable}`, maxTable);
  if (maxSet > 0) ids.groupSets.adopt(`adopted-revision-${maxSet}`, maxSet);
}

/**
 * After an apply that left some rows of the old state in the maps (services that did not fit):
 * their service and backend ids stay taken, so no new service or backend is given an id that a
 * row still in force uses. (The compile released them; the next compile releases them again.)
 */
export function holdLeftIds(held: TableState, desired: TableState, ids: TableIds): void {
  const left = new Map([...held].map(([name, rows]) => [name, new Map([...rows].filter(([key]) => !desired.get(name)?.has(key)))]));
  adoptServicesAndBackends(left, ids);
}

function adoptServicesAndBackends(state: TableState, ids: TableIds): void {
  for (const row of state.get('mc_services')!.values()) {
    const key = decode(L.ServiceKey, row.key);
    const value = decode(L.ServiceValue, row.value);
    const vip = wordsAddress(key, Number(key.family));
    const proto = L.PROTOCOL_NAMES.get(Number(key.proto)) ?? String(key.proto);
    ids.services.adopt(`${vip}:${hostPort(Number(key.port))}/${proto}`, Number(value.id));
  }
  for (const row of state.get('mc_backends')!.values()) {
    const id = Number(decode(L.ArrayIndex, row.key).index);
    const backend = decode(L.Backend, row.value);
    if (Number(backend.state) === L.BACKEND.empty) continue;
    ids.backends.adopt(`${wordsAddress(backend, Number(backend.family))}:${hostPort(Number(backend.port))}`, id);
  }
}

/**
 * While the source is not synced the agent keeps rows its model does not have (a previous agent's,
 * for a directory or file it cannot read yet): their service and backend ids are reserved, so a
 * new frontend or backend never takes an id a kept row points at (a kept slot would then lead to
 * the new backend). An empty reservation when the source is synced.
 */
export function reserveKeptIds(state: TableState | undefined, ids: TableIds): void {
  const services: number[] = [];
  const backends: number[] = [];
  for (const row of state?.get('mc_services')?.values() ?? []) services.push(Number(decode(L.ServiceValue, row.value).id));
  for (const row of state?.get('mc_backends')?.values() ?? []) {
    if (Number(decode(L.Backend, row.value).state) !== L.BACKEND.empty) backends.push(Number(decode(L.ArrayIndex, row.key).index));
  }
  ids.services.reserve(services);
  ids.backends.reserve(backends);
}
