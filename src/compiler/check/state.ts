// What the check phase produces (the typed program) and what its jobs share while they walk one
// function: the function, its module, the scope and the null facts at the current point.
import type ts from 'typescript';
import type { Declarations } from '../declarations.ts';
import type { DiagnosticSink } from '../diagnostics.ts';
import type { ModuleGraph, SourceModule } from '../read.ts';
import type { ClassDecl, ConstDecl, FunctionDecl, IntName, MapDecl, Ty } from '../types.ts';

export interface LocalVar {
  name: string;
  type: Ty;
  node: ts.Node;
  isConst: boolean;
  /** Points at zeroed scratch of this function's own stack (`stackalloc<T>()`). */
  stackalloc: boolean;
  /** Holds a map lookup result: null until checked. */
  lookup: boolean;
  loopCounter: boolean;
}

export interface FunctionInfo {
  decl: FunctionDecl;
  params: LocalVar[];
  locals: LocalVar[];
  calls: Array<{ callee: FunctionInfo; node: ts.CallExpression }>;
  /** Writes memory the caller can see (a parameter's fields, a map value, a map). */
  writes: boolean;
  /** `writes`, or calls a function that does. */
  impure: boolean;
}

export type Ref =
  | { kind: 'local'; v: LocalVar }
  | { kind: 'const'; c: ConstDecl }
  | { kind: 'map'; m: MapDecl }
  | { kind: 'function'; f: FunctionInfo };

export type MapMethod = 'lookup' | 'update' | 'delete';

export interface CheckedProgram {
  graph: ModuleGraph;
  decls: Declarations;
  roots: FunctionInfo[];
  /** Reachable functions in discovery order. */
  functions: FunctionInfo[];
  types: Map<ts.Node, Ty>;
  refs: Map<ts.Identifier, Ref>;
  locals: Map<ts.Node, LocalVar>;
  calls: Map<ts.CallExpression, FunctionInfo>;
  mapCalls: Map<ts.CallExpression, { map: MapDecl; method: MapMethod }>;
  /** `u32(x)` style conversions. */
  castCalls: Map<ts.CallExpression, IntName>;
  stackallocs: Map<ts.VariableDeclaration, ClassDecl>;
}

/** Facts: the lookup results known to be non-null here; null means "unreachable". */
export type Facts = Set<LocalVar> | null;

export class Scope {
  readonly vars = new Map<string, LocalVar>();
  constructor(readonly parent: Scope | null) {}
  find(name: string): LocalVar | undefined {
    return this.vars.get(name) ?? this.parent?.find(name);
  }
}

/** The program being built and the position of the walk, shared by every job of the phase. */
export class CheckState {
  readonly program: CheckedProgram;

  // The function being checked.
  fn!: FunctionInfo;
  mod!: SourceModule;
  scope!: Scope;
  facts: Set<LocalVar> = new Set();

  constructor(readonly graph: ModuleGraph, readonly decls: Declarations, readonly sink: DiagnosticSink) {
    this.program = {
      graph, decls, roots: [], functions: [], types: new Map(), refs: new Map(), locals: new Map(),
      calls: new Map(), mapCalls: new Map(), castCalls: new Map(), stackallocs: new Map(),
    };
  }

  /** Starts the walk of `info`'s body. */
  enter(info: FunctionInfo): void {
    this.fn = info;
    this.mod = info.decl.module;
    this.scope = new Scope(null);
    this.facts = new Set();
  }

  declare(name: string, type: Ty, node: ts.Node, flags: Partial<LocalVar>): LocalVar {
    const v: LocalVar = { name, type, node, isConst: false, stackalloc: false, lookup: false, loopCounter: false, ...flags };
    this.scope.vars.set(name, v);
    this.program.locals.set(node, v);
    this.fn.locals.push(v);
    return v;
  }

  withScope<T>(body: () => T): T {
    const saved = this.scope;
    this.scope = new Scope(saved);
    try {
      return body();
    } finally {
      this.scope = saved;
    }
  }
}
