// Fast readers of single fields of a generated layout, for decoding many rows (`meshc inspect`
// on 100,000 frontends): the offset and width come from the one declaration (src/generated/), the
// bytes are read in place, and no row object is built. Little-endian, as src/tables/codec.ts.
import type { StructSpec } from '../generated/layouts.ts';

type UnsignedField<S extends StructSpec> = Extract<S['fields'][number], { type: 'u8' | 'u16' | 'u32' }>['name'];

/** Reads field `name` (u8, u16 or u32, not an array) of a row laid out as `spec`. */
export function fieldReader<S extends StructSpec>(spec: S, name: UnsignedField<S>): (bytes: Uint8Array) => number {
  const field = spec.fields.find((f) => f.name === name);
  if (!field || field.count !== undefined) throw new Error(`${spec.name}.${name}: not a scalar field`);
  const at = field.offset;
  switch (field.type) {
    case 'u8':
      return (b) => b[at]!;
    case 'u16':
      return (b) => b[at]! | (b[at + 1]! << 8);
    case 'u32':
      return (b) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
    default:
      throw new Error(`${spec.name}.${name}: a ${field.type} field, not u8/u16/u32`);
  }
}

/** Reads the u32 array field `name` (an address's `addr`) of a row laid out as `spec`. */
export function wordsReader<S extends StructSpec>(spec: S, name: S['fields'][number]['name']): (bytes: Uint8Array) => number[] {
  const field = spec.fields.find((f) => f.name === name);
  if (!field || field.type !== 'u32' || field.count === undefined) throw new Error(`${spec.name}.${name}: not a u32 array field`);
  const { offset, count } = field;
  const word = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  return (b) => Array.from({ length: count }, (_, i) => word(b, offset + 4 * i));
}

/** Readers for several fields at once: `{ id: (bytes) => number, ... }`. */
export function fieldReaders<S extends StructSpec, N extends UnsignedField<S>>(spec: S, names: readonly N[]): { [K in N]: (bytes: Uint8Array) => number } {
  return Object.fromEntries(names.map((name) => [name, fieldReader(spec, name)])) as { [K in N]: (bytes: Uint8Array) => number };
}
