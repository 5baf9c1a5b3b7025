// Phase 2, check: walks every function reachable from the entry's exports, infers the type of
// each expression as AssemblyScript does, and reports everything outside the subset: recursion,
// unbounded loops, allocation, strings, floats, unchecked map lookups, unknown calls, ...
// One job per file: statements.ts, loop-bounds.ts, null-facts.ts, expressions.ts, call-graph.ts.
import ts from 'typescript';
import { Declarations } from '../declarations.ts';
import type { DiagnosticSink } from '../diagnostics.ts';
import { resolveLocal, type ModuleGraph, type Resolved, type SourceModule } from '../read.ts';
import { typeName } from '../types.ts';
import { CallGraph } from './call-graph.ts';
import { ExpressionChecker } from './expressions.ts';
import { CheckState, type CheckedProgram } from './state.ts';
import { StatementChecker } from './statements.ts';

export type { CheckedProgram, FunctionInfo, LocalVar, MapMethod, Ref } from './state.ts';

export interface CheckOptions {
  /** The entry must export `decide` with the signature the hook glue calls. */
  requireDecide: boolean;
}

export function check(graph: ModuleGraph, sink: DiagnosticSink, options: CheckOptions): CheckedProgram {
  const state = new CheckState(graph, new Declarations(graph, sink), sink);
  const calls = new CallGraph(state);
  const statements = new StatementChecker(state, new ExpressionChecker(state, calls));
  const entry = graph.entry;
  if (entry.sf) {
    const names = [...entry.exports.keys(), ...starExportNames(entry)];
    for (const name of [...new Set(names)].sort((a, b) => (a === 'decide' ? -1 : b === 'decide' ? 1 : 0))) {
      const r = resolveLocalExport(entry, name);
      if (r?.kind === 'decl' && ts.isFunctionDeclaration(r.node)) state.program.roots.push(calls.functionInfo(r.module, r.node));
    }
    if (options.requireDecide) checkDecide(state);
  }
  for (let f = calls.next(); f; f = calls.next()) statements.checkFunction(f);
  calls.finish();
  return state.program;
}

function starExportNames(mod: SourceModule): string[] {
  // Only `decide` matters through `export *`: the generator needs the entry's own functions.
  return mod.starExports.some((m) => m && resolveLocalExport(mod, 'decide')) ? ['decide'] : [];
}

function checkDecide(state: CheckState): void {
  const entry = state.graph.entry;
  const r = resolveLocalExport(entry, 'decide');
  if (!r || r.kind !== 'decl' || !ts.isFunctionDeclaration(r.node)) {
    state.sink.atFile(entry.rel, 'MC1014', `${entry.rel} does not export a function named decide`,
      'export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8, or re-export one');
    return;
  }
  const fn = state.decls.functionOf(r.module, r.node);
  const want = ['ServiceKey', 'u64', 'u32', 'u64', 'Decision'];
  const got = fn.params.map((p) => (p.type.kind === 'class' ? p.type.cls.name : typeName(p.type)));
  const ok = got.length === want.length && got.every((g, i) => g === want[i]) && fn.ret.kind === 'int' && fn.ret.name === 'u8';
  if (!ok && fn.params.every((p) => p.type.kind !== 'error') && fn.ret.kind !== 'error') {
    state.sink.at(r.node.name ?? r.node, 'MC1014',
      `decide has signature (${got.join(', ')}): ${typeName(fn.ret)}; the hook glue calls (ServiceKey, u64, u32, u64, Decision): u8`,
      'declare decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8');
  }
}

function resolveLocalExport(mod: SourceModule, name: string): Resolved | undefined {
  const binding = mod.exports.get(name);
  if (binding?.kind === 'local') return resolveLocal(mod, binding.name);
  if (binding?.kind === 'reexport' && binding.module) {
    const target = binding.module;
    const inner = target.exports.get(binding.name);
    if (inner) return resolveLocalExport(target, binding.name);
    return resolveLocal(target, binding.name);
  }
  for (const star of mod.starExports) {
    const r = star ? resolveLocalExport(star, name) : undefined;
    if (r) return r;
  }
  return undefined;
}
