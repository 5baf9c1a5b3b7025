// The agent's side of mc_names (src/glue/names.ts): after each sync it writes the names of new
// or renamed services and backends and removes those of gone ones.
import type { BpfMap, BpfObject } from '../loader/index.ts';
import type { CompiledTables } from '../tables/compile.ts';
import { encodeName, nameKey, namesOf, readNames } from '../glue/names.ts';

const written = new WeakMap<BpfMap, Map<string, string>>();

/** Writes changed names and removes gone ones; a no-op for objects without mc_names. */
export function writeNames(obj: BpfObject, tables: CompiledTables): void {
  if (!obj.maps().some((m) => m.name === 'mc_names')) return;
  const map = obj.map('mc_names');
  const previous = written.get(map) ?? readNames(map);
  const next = namesOf(tables);
  const keyOf = (id: string) => {
    const [kind, n] = id.split(':').map(Number) as [number, number];
    return nameKey(kind, n);
  };
  const changed = [...next].filter(([id, name]) => previous.get(id) !== name);
  map.updateBatch(changed.map(([id, name]) => [keyOf(id), encodeName(name)] as const));
  const gone = [...previous.keys()].filter((id) => !next.has(id));
  map.deleteBatch(gone.map(keyOf));
  written.set(map, next);
}
