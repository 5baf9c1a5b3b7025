// The policy generator: AssemblyScript policy modules (the subset in docs/policy-subset.md) in,
// BPF C out. read → check → lower → emit, one phase per file.
import path from 'node:path';
import { check } from './check/index.ts';
import { Declarations } from './declarations.ts';
import { DiagnosticSink, type CompilerDiagnostic } from './diagnostics.ts';
import { emit } from './emit.ts';
import { lower, structName } from './lower.ts';
import { readModules, relPath } from './read.ts';
export { resolvePolicyImports } from './read.ts';
import { INTS, type IntName, type MapKind } from './types.ts';

export { formatCompilerDiagnostic, DIAGNOSTIC_CODES } from './diagnostics.ts';
export type { CompilerDiagnostic, DiagnosticCode } from './diagnostics.ts';
export { snakeCase } from './lower.ts';

export interface GenerateOptions {
  /** The policy entry module; default `<assemblyDir>/entry.ts`. */
  entry?: string;
  /** The built-in policy modules (constants, layouts, maps, policy, runtime/); default `assembly`. */
  assemblyDir?: string;
  /** Paths in diagnostics and in the banner are relative to it; default the current directory. */
  baseDir?: string;
  /** Emit constants.ts, layouts.ts and maps.ts even if the entry does not import them (the hook
   * glue needs them); default true. */
  builtins?: boolean;
  /** Require the entry to export `decide` with the signature the hook glue calls; default true. */
  requireDecide?: boolean;
}

export interface GenerateResult {
  /** The C source; empty when there are diagnostics. */
  code: string;
  diagnostics: CompilerDiagnostic[];
}

export function generateC(options: GenerateOptions = {}): GenerateResult {
  const baseDir = path.resolve(options.baseDir ?? process.cwd());
  const assemblyDir = path.resolve(baseDir, options.assemblyDir ?? 'assembly');
  const entry = path.resolve(baseDir, options.entry ?? path.join(assemblyDir, 'entry.ts'));
  const sink = new DiagnosticSink((sf) => sf.fileName);
  const graph = readModules({ entry, assemblyDir, baseDir, builtins: options.builtins ?? true }, sink);
  const checked = check(graph, sink, { requireDecide: options.requireDecide ?? true });
  const lowered = lower(checked, sink);
  const diagnostics = sink.sorted();
  if (diagnostics.length > 0) return { code: '', diagnostics };
  const inputs = graph.modules.map((m) => m.rel);
  return { code: emit(lowered, { inputs }), diagnostics };
}

export interface FieldLayout {
  /** The C member: `addr` for the array of the fields `addr0` … `addr3`. */
  name: string;
  /** The type of the member, or of each element of an array. */
  type: IntName;
  offset: number;
  /** Bytes of the whole member. */
  size: number;
  /** Element count of an array; absent for a scalar. */
  count?: number;
  /** The field's comment in the source (an array's: its first element's). */
  comment: string;
}

export interface ClassLayout {
  name: string;
  /** The C struct tag (`service_key`). */
  cName: string;
  file: string;
  size: number;
  align: number;
  fields: FieldLayout[];
}

export interface MapLayout {
  name: string;
  kind: MapKind;
  bpfType: 'BPF_MAP_TYPE_HASH' | 'BPF_MAP_TYPE_LRU_HASH' | 'BPF_MAP_TYPE_ARRAY';
  /** Key class name; null for ArrayMap, keyed by a u32 index. */
  key: string | null;
  keySize: number;
  value: string;
  valueSize: number;
  maxEntries: { expression: string; value: number | undefined };
  wasmId: number;
}

export interface ConstantValue {
  name: string;
  type: IntName;
  /** A number for types up to 32 bits, a bigint for 64-bit ones. */
  value: number | bigint | undefined;
  comment: string;
}

export interface LayoutDescription {
  classes: ClassLayout[];
  maps: MapLayout[];
  constants: ConstantValue[];
  /** Problems in the declarations; the description is incomplete when there are any. */
  diagnostics: CompilerDiagnostic[];
}

/**
 * The byte layouts declared in `<assemblyDir>/layouts.ts`, the maps of `maps.ts` and the constants
 * of `constants.ts`: the one description the C structs and the TypeScript codecs follow.
 */
export function readLayouts(assemblyDir = 'assembly', baseDir = process.cwd()): LayoutDescription {
  const dir = path.resolve(baseDir, assemblyDir);
  const sink = new DiagnosticSink((sf) => sf.fileName);
  const graph = readModules({ entry: path.join(dir, 'maps.ts'), assemblyDir: dir, baseDir, builtins: true }, sink);
  const decls = new Declarations(graph, sink);
  const classes = decls.classes.map((c) => ({
    name: c.name, cName: structName(c), file: relPath(baseDir, c.module.path), size: c.size, align: c.align,
    fields: c.fields.filter((f) => !f.element || f.element.index === 0).map((f): FieldLayout => (f.element
      ? { name: f.element.array, type: f.type, offset: f.offset, size: f.size * f.element.count, count: f.element.count, comment: f.comment }
      : { name: f.name, type: f.type, offset: f.offset, size: f.size, comment: f.comment })),
  }));
  const maps = decls.maps.map((m): MapLayout => ({
    name: m.name,
    kind: m.kind,
    bpfType: m.kind === 'HashMap' ? 'BPF_MAP_TYPE_HASH' : m.kind === 'LruHashMap' ? 'BPF_MAP_TYPE_LRU_HASH' : 'BPF_MAP_TYPE_ARRAY',
    key: m.key?.name ?? null,
    keySize: m.key?.size ?? 4,
    value: m.value.name,
    valueSize: m.value.size,
    maxEntries: { expression: m.maxEntries.getText(), value: m.maxEntriesValue === undefined ? undefined : Number(m.maxEntriesValue) },
    wasmId: m.wasmId,
  }));
  const constants = decls.consts.map((c) => ({
    name: c.name,
    type: c.type,
    value: c.value === undefined ? undefined : INTS[c.type].size === 8 ? c.value : Number(c.value),
    comment: c.comment,
  }));
  return { classes, maps, constants, diagnostics: sink.sorted() };
}
