// Kubernetes names beside the ids in the maps, so `meshc inspect` and `meshc monitor` can say
// "default/product-api:80" and "default/product-api-v1-abc" instead of numbers. They live in the
// pinned map mc_names (bpf/meshc_maps.h), which no hook reads.
import type { BpfMap, BpfObject } from '../loader/index.ts';
import type { CompiledTables } from '../tables/compile.ts';

export const NAME_KIND = { service: 1, backend: 2 } as const;
export const NAME_BYTES = 112;

const written = new WeakMap<BpfMap, Map<string, string>>();

export function nameKey(kind: number, id: number): Uint8Array {
  const key = new Uint8Array(8);
  const view = new DataView(key.buffer);
  view.setUint32(0, kind, true);
  view.setUint32(4, id, true);
  return key;
}

export function encodeName(text: string): Uint8Array {
  const value = new Uint8Array(NAME_BYTES);
  value.set(new TextEncoder().encode(text).subarray(0, NAME_BYTES - 1));
  return value;
}

export function decodeName(value: Uint8Array): string {
  const end = value.indexOf(0);
  return new TextDecoder().decode(value.subarray(0, end < 0 ? value.length : end));
}

/** The names the tables imply, by `kind:id`. */
export function namesOf(tables: CompiledTables): Map<string, string> {
  const names = new Map<string, string>();
  for (const f of tables.frontends) {
    names.set(`${NAME_KIND.service}:${f.id}`, `${f.service.meta.namespace}/${f.service.meta.name}:${f.port.port}/${f.protocol}`);
  }
  for (const b of tables.backends.values()) {
    names.set(`${NAME_KIND.backend}:${b.id}`, b.pod ? `${b.pod.namespace}/${b.pod.name}` : `${b.ip}:${b.port}`);
  }
  return names;
}

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

/** Every name in a mc_names map, by `kind:id`. */
export function readNames(map: BpfMap): Map<string, string> {
  const names = new Map<string, string>();
  for (const [key, value] of map.entries()) {
    const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
    names.set(`${view.getUint32(0, true)}:${view.getUint32(4, true)}`, decodeName(value));
  }
  return names;
}
