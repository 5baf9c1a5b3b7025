// mc_names (bpf/meshc_maps.h): Kubernetes names beside the ids in the maps, so `meshc inspect` and
// `meshc monitor` can say "default/product-api:80" instead of a number. The agent writes them
// (src/agent/names.ts); no hook reads them. Records are struct mc_name_key / mc_name.
import type { BpfMap } from '../loader/index.ts';
import { MC_NAME, McName, McNameKey } from '../generated/glue.ts';
import { decode, encode } from '../tables/codec.ts';
import type { CompiledTables } from '../tables/compile.ts';

export type NameKind = (typeof MC_NAME)[keyof typeof MC_NAME];

/** `kind:id`, the key of a name in the maps below. */
export function nameId(kind: NameKind, id: number): string {
  return `${kind}:${id}`;
}

export function nameKey(kind: number, id: number): Uint8Array {
  return encode(McNameKey, { kind, id });
}

export function encodeName(text: string): Uint8Array {
  return encode(McName, { text });
}

export function decodeName(value: Uint8Array): string {
  return decode(McName, value).text;
}

/** The names the tables imply, by `kind:id`. */
export function namesOf(tables: CompiledTables): Map<string, string> {
  const names = new Map<string, string>();
  for (const f of tables.frontends) {
    names.set(nameId(MC_NAME.service, f.id), `${f.service.meta.namespace}/${f.service.meta.name}:${f.port.port}/${f.protocol}`);
  }
  for (const b of tables.backends.values()) {
    names.set(nameId(MC_NAME.backend, b.id), b.pod ? `${b.pod.namespace}/${b.pod.name}` : `${b.ip}:${b.port}`);
  }
  return names;
}

/** Every name in a mc_names map, by `kind:id`. */
export function readNames(map: BpfMap): Map<string, string> {
  const names = new Map<string, string>();
  for (const [key, value] of map.entries()) {
    const { kind, id } = decode(McNameKey, key);
    names.set(`${kind}:${id}`, decodeName(value));
  }
  return names;
}
