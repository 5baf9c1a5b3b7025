// The types of the policy subset: fixed-width integers, bool, @unmanaged classes (by reference),
// map objects and void; and the typed declarations that the checker and the emitter share.
import type ts from 'typescript';
import type { SourceModule } from './read.ts';

export type IntName = 'u8' | 'u16' | 'u32' | 'u64' | 'i8' | 'i16' | 'i32' | 'i64' | 'bool';

export interface IntInfo {
  size: 1 | 2 | 4 | 8;
  signed: boolean;
  /** The C type the generator emits for it. */
  c: string;
}

export const INTS: Record<IntName, IntInfo> = {
  u8: { size: 1, signed: false, c: '__u8' },
  u16: { size: 2, signed: false, c: '__u16' },
  u32: { size: 4, signed: false, c: '__u32' },
  u64: { size: 8, signed: false, c: '__u64' },
  i8: { size: 1, signed: true, c: '__s8' },
  i16: { size: 2, signed: true, c: '__s16' },
  i32: { size: 4, signed: true, c: '__s32' },
  i64: { size: 8, signed: true, c: '__s64' },
  bool: { size: 1, signed: false, c: '__u8' },
};

export function isIntName(name: string): name is IntName {
  return Object.prototype.hasOwnProperty.call(INTS, name);
}

export type MapKind = 'HashMap' | 'LruHashMap' | 'ArrayMap';

export type Ty =
  | { kind: 'int'; name: IntName }
  | { kind: 'void' }
  | { kind: 'class'; cls: ClassDecl; nullable: boolean }
  | { kind: 'map'; map: MapDecl }
  | { kind: 'null' }
  /** Already diagnosed: suppresses follow-on errors. */
  | { kind: 'error' };

export const VOID: Ty = { kind: 'void' };
export const ERROR: Ty = { kind: 'error' };
export const NULL: Ty = { kind: 'null' };
const intTypes = new Map<IntName, Ty>();
export function int(name: IntName): Ty & { kind: 'int' } {
  let t = intTypes.get(name);
  if (!t) intTypes.set(name, (t = { kind: 'int', name }));
  return t as Ty & { kind: 'int' };
}

export function typeName(t: Ty): string {
  switch (t.kind) {
    case 'int': return t.name;
    case 'void': return 'void';
    case 'class': return t.nullable ? `${t.cls.name} | null` : t.cls.name;
    case 'map': return `${t.map.kind}`;
    case 'null': return 'null';
    case 'error': return '<error>';
  }
}

export interface FieldDecl {
  name: string;
  type: IntName;
  offset: number;
  size: number;
  /** The field's trailing comment in the source, without `//`. */
  comment: string;
  node: ts.PropertyDeclaration;
  /**
   * Set when the field is one element of an array of the C struct: fields `addr0` … `addr3` in a
   * row, of one type, are `addr[4]` in C and in the TypeScript codecs.
   */
  element?: { array: string; index: number; count: number };
}

export interface ClassDecl {
  name: string;
  module: SourceModule;
  node: ts.ClassDeclaration;
  fields: FieldDecl[];
  size: number;
  align: number;
  /** The class's doc comment, verbatim. */
  doc: string;
}

export interface ConstDecl {
  name: string;
  module: SourceModule;
  node: ts.VariableDeclaration;
  type: IntName;
  init: ts.Expression;
  /** The value, wrapped to `type`; undefined when the initializer is not a constant. */
  value: bigint | undefined;
  comment: string;
}

export interface MapDecl {
  name: string;
  module: SourceModule;
  node: ts.VariableDeclaration;
  kind: MapKind;
  /** The key class; null for ArrayMap, whose key is a u32 index. */
  key: ClassDecl | null;
  value: ClassDecl;
  maxEntries: ts.Expression;
  maxEntriesValue: bigint | undefined;
  wasmId: number;
}

export interface ParamDecl {
  name: string;
  type: Ty;
  node: ts.ParameterDeclaration;
}

export interface FunctionDecl {
  name: string;
  module: SourceModule;
  node: ts.FunctionDeclaration;
  params: ParamDecl[];
  ret: Ty;
  doc: string;
}
