// Phase 1, read: parse the policy modules with the TypeScript parser (AssemblyScript syntax is
// TypeScript syntax) and build the module graph by following imports from the entry.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { DiagnosticSink } from './diagnostics.ts';

/** policy: translated to C; runtime: the Wasm backing of maps and stackalloc, known to the
 * generator by its exports; wasm-only: never translated, importing it is an error. */
export type ModuleRole = 'policy' | 'runtime' | 'wasm-only';

/** The names the runtime modules export that the generator understands. */
export const BUILTINS = ['HashMap', 'LruHashMap', 'ArrayMap', 'stackalloc'] as const;
export type BuiltinName = (typeof BUILTINS)[number];

export type ModuleDecl = ts.FunctionDeclaration | ts.ClassDeclaration | ts.VariableDeclaration;

export interface ImportBinding {
  node: ts.Node;
  /** The module the name comes from; null when it could not be resolved (already diagnosed). */
  module: SourceModule | null;
  name: string;
}

export type ExportBinding =
  | { kind: 'local'; name: string }
  | { kind: 'reexport'; module: SourceModule | null; name: string; node: ts.Node };

export interface SourceModule {
  path: string;
  /** Path relative to the base directory, with forward slashes. */
  rel: string;
  /** Undefined for runtime and wasm-only modules, which are never parsed. */
  sf: ts.SourceFile | undefined;
  role: ModuleRole;
  imports: Map<string, ImportBinding>;
  decls: Map<string, ModuleDecl>;
  exports: Map<string, ExportBinding>;
  starExports: Array<SourceModule | null>;
}

export type Resolved =
  | { kind: 'decl'; module: SourceModule; node: ModuleDecl; name: string }
  | { kind: 'builtin'; name: BuiltinName };

export interface ModuleGraph {
  entry: SourceModule;
  /** Every module, dependencies before dependents. */
  modules: SourceModule[];
  assemblyDir: string;
}

/** The built-in modules that the hook glue relies on: always part of the generated C. */
export const BUILTIN_MODULES = ['constants.ts', 'layouts.ts', 'maps.ts'];

export interface ReadOptions {
  entry: string;
  assemblyDir: string;
  baseDir: string;
  /** Also read constants.ts, layouts.ts and maps.ts of assemblyDir, imported or not. */
  builtins: boolean;
}

/**
 * A user policy's source with its `"meshc/<module>"` import specifiers made relative, for asc
 * (which resolves bare specifiers as packages, giving a second copy of each module and its
 * maps): `placedIn` is the directory the file will be compiled from.
 */
export function resolvePolicyImports(source: string, placedIn: string, assemblyDir: string): string {
  return source.replace(/(\bfrom\s*)(["'])meshc\/([^"']+)\2/g, (_all, from: string, quote: string, name: string) => {
    let rel = path.relative(placedIn, path.join(assemblyDir, name)).split(path.sep).join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return `${from}${quote}${rel}${quote}`;
  });
}

export function relPath(baseDir: string, file: string): string {
  return path.relative(baseDir, file).split(path.sep).join('/');
}

export function readModules(options: ReadOptions, sink: DiagnosticSink): ModuleGraph {
  const assemblyDir = path.resolve(options.assemblyDir);
  const byPath = new Map<string, SourceModule>();
  const order: SourceModule[] = [];

  const roleOf = (file: string): ModuleRole => {
    const inAssembly = relPath(assemblyDir, file);
    if (inAssembly.startsWith('runtime/')) return 'runtime';
    if (inAssembly === 'wasm.ts' || inAssembly === 'index.ts' || inAssembly.startsWith('l7/')) return 'wasm-only';
    return 'policy';
  };

  const load = (file: string): SourceModule => {
    const existing = byPath.get(file);
    if (existing) return existing;
    const role = roleOf(file);
    const mod: SourceModule = {
      path: file, rel: relPath(options.baseDir, file), sf: undefined, role,
      imports: new Map(), decls: new Map(), exports: new Map(), starExports: [],
    };
    byPath.set(file, mod);
    if (role === 'policy') {
      const text = fs.readFileSync(file, 'utf8');
      mod.sf = ts.createSourceFile(mod.rel, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
      // The parser recovers from syntax errors; its list of them is not public API but stable.
      const syntax = (mod.sf as unknown as { parseDiagnostics?: ts.DiagnosticWithLocation[] }).parseDiagnostics ?? [];
      for (const d of syntax) {
        sink.atPosition(mod.sf, d.start, 'MC1001', `syntax error: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
          'the file must parse as AssemblyScript (TypeScript syntax)');
      }
      index(mod);
    }
    order.push(mod);
    return mod;
  };

  /** Resolves an import specifier; reports and returns null when it cannot. */
  const resolveSpecifier = (from: SourceModule, spec: ts.StringLiteral): SourceModule | null => {
    const text = spec.text;
    let target: string;
    if (text.startsWith('meshc/')) target = path.join(assemblyDir, text.slice('meshc/'.length));
    else if (text.startsWith('./') || text.startsWith('../')) target = path.resolve(path.dirname(from.path), text);
    else {
      sink.at(spec, 'MC1013', `cannot resolve module "${text}"`,
        'import the built-in modules as "meshc/policy", "meshc/layouts", ... or by relative path');
      return null;
    }
    const candidates = [target, `${target}.ts`, path.join(target, 'index.ts')];
    const file = candidates.find((c) => c.endsWith('.ts') && fs.existsSync(c) && fs.statSync(c).isFile());
    if (!file) {
      sink.at(spec, 'MC1013', `cannot resolve module "${text}" (looked for ${relPath(options.baseDir, target)}.ts)`,
        'check the path; built-in modules are "meshc/policy", "meshc/layouts", "meshc/constants", "meshc/maps"');
      return null;
    }
    const mod = byPath.get(file) ?? (roleOf(file) === 'wasm-only' ? undefined : load(file));
    if (mod) return mod;
    sink.at(spec, 'MC1013', `"${text}" is a Wasm-only module and is never translated to C`,
      'policy code may import constants, layouts, maps, policy and runtime/stack; not wasm.ts, index.ts or l7/');
    return null;
  };

  function index(mod: SourceModule): void {
    for (const stmt of mod.sf!.statements) {
      if (ts.isImportDeclaration(stmt)) {
        const from = resolveSpecifier(mod, stmt.moduleSpecifier as ts.StringLiteral);
        const clause = stmt.importClause;
        if (clause?.name) mod.imports.set(clause.name.text, { node: clause.name, module: from, name: 'default' });
        const bindings = clause?.namedBindings;
        if (bindings && ts.isNamedImports(bindings)) {
          for (const el of bindings.elements) {
            mod.imports.set(el.name.text, { node: el, module: from, name: (el.propertyName ?? el.name).text });
          }
        } else if (bindings) {
          mod.imports.set(bindings.name.text, { node: bindings, module: from, name: '*' });
        }
      } else if (ts.isExportDeclaration(stmt)) {
        const from = stmt.moduleSpecifier ? resolveSpecifier(mod, stmt.moduleSpecifier as ts.StringLiteral) : undefined;
        const clause = stmt.exportClause;
        if (!clause) {
          if (from !== undefined) mod.starExports.push(from);
        } else if (ts.isNamedExports(clause)) {
          for (const el of clause.elements) {
            const inner = (el.propertyName ?? el.name).text;
            if (from !== undefined) mod.exports.set(el.name.text, { kind: 'reexport', module: from, name: inner, node: el });
            else mod.exports.set(el.name.text, { kind: 'local', name: inner });
          }
        }
      } else if (ts.isFunctionDeclaration(stmt) || ts.isClassDeclaration(stmt)) {
        if (!stmt.name) continue;
        mod.decls.set(stmt.name.text, stmt);
        if (isExported(stmt)) mod.exports.set(stmt.name.text, { kind: 'local', name: stmt.name.text });
      } else if (ts.isVariableStatement(stmt)) {
        for (const d of stmt.declarationList.declarations) {
          if (!ts.isIdentifier(d.name)) continue;
          mod.decls.set(d.name.text, d);
          if (isExported(stmt)) mod.exports.set(d.name.text, { kind: 'local', name: d.name.text });
        }
      }
    }
  }

  const entryPath = path.resolve(options.entry);
  let entry: SourceModule;
  if (!fs.existsSync(entryPath)) {
    sink.atFile(relPath(options.baseDir, entryPath), 'MC1013', 'the policy entry file does not exist',
      'pass an existing .ts file that exports decide');
    entry = {
      path: entryPath, rel: relPath(options.baseDir, entryPath), sf: undefined, role: 'policy',
      imports: new Map(), decls: new Map(), exports: new Map(), starExports: [],
    };
  } else {
    if (options.builtins) {
      for (const name of BUILTIN_MODULES) {
        const file = path.join(assemblyDir, name);
        if (fs.existsSync(file)) load(file);
      }
    }
    entry = load(entryPath);
  }
  return { entry, modules: order.filter((m) => m.role === 'policy'), assemblyDir };
}

function isExported(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

/** What `name` exported by `mod` refers to, following re-exports; undefined when not exported. */
export function resolveExport(mod: SourceModule, name: string, seen = new Set<SourceModule>()): Resolved | undefined {
  if (seen.has(mod)) return undefined;
  seen.add(mod);
  if (mod.role === 'runtime') {
    return (BUILTINS as readonly string[]).includes(name) ? { kind: 'builtin', name: name as BuiltinName } : undefined;
  }
  const binding = mod.exports.get(name);
  if (binding?.kind === 'local') return resolveLocal(mod, binding.name, seen);
  if (binding?.kind === 'reexport') return binding.module ? resolveExport(binding.module, binding.name, seen) : undefined;
  for (const star of mod.starExports) {
    const r = star && resolveExport(star, name, seen);
    if (r) return r;
  }
  return undefined;
}

/** What a module-level `name` in `mod` refers to: its own declaration or an import. */
export function resolveLocal(mod: SourceModule, name: string, seen = new Set<SourceModule>()): Resolved | undefined {
  const decl = mod.decls.get(name);
  if (decl) return { kind: 'decl', module: mod, node: decl, name };
  const imp = mod.imports.get(name);
  if (imp?.module) return resolveExport(imp.module, imp.name, seen);
  return undefined;
}
