// Phase 2, check: walks every function reachable from the entry's exports, infers the type of
// each expression as AssemblyScript does, and reports everything outside the subset: recursion,
// unbounded loops, allocation, strings, floats, unchecked map lookups, unknown calls, ...
import ts from 'typescript';
import { Declarations } from './declarations.ts';
import type { DiagnosticSink } from './diagnostics.ts';
import { resolveLocal, type BuiltinName, type ModuleGraph, type Resolved, type SourceModule } from './read.ts';
import {
  ERROR, INTS, NULL, int, isIntName, typeName,
  type ClassDecl, type ConstDecl, type FunctionDecl, type IntName, type MapDecl, type Ty,
} from './types.ts';

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

export interface CheckOptions {
  /** The entry must export `decide` with the signature the hook glue calls. */
  requireDecide: boolean;
}

/** Facts: the lookup results known to be non-null here; null means "unreachable". */
type Facts = Set<LocalVar> | null;

const COMPARISONS = new Set([
  ts.SyntaxKind.LessThanToken, ts.SyntaxKind.LessThanEqualsToken, ts.SyntaxKind.GreaterThanToken,
  ts.SyntaxKind.GreaterThanEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken,
  ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken,
]);
const EQUALITY = new Set([
  ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken,
  ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken,
]);
export const ARITHMETIC = new Set([
  ts.SyntaxKind.PlusToken, ts.SyntaxKind.MinusToken, ts.SyntaxKind.AsteriskToken, ts.SyntaxKind.SlashToken,
  ts.SyntaxKind.PercentToken, ts.SyntaxKind.AmpersandToken, ts.SyntaxKind.BarToken, ts.SyntaxKind.CaretToken,
  ts.SyntaxKind.LessThanLessThanToken, ts.SyntaxKind.GreaterThanGreaterThanToken,
  ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken,
]);
export const SHIFTS = new Set([
  ts.SyntaxKind.LessThanLessThanToken, ts.SyntaxKind.GreaterThanGreaterThanToken,
  ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken,
]);
/** `x op= y` → the binary operator `op`. */
export const COMPOUND: ReadonlyMap<ts.SyntaxKind, ts.SyntaxKind> = new Map([
  [ts.SyntaxKind.PlusEqualsToken, ts.SyntaxKind.PlusToken],
  [ts.SyntaxKind.MinusEqualsToken, ts.SyntaxKind.MinusToken],
  [ts.SyntaxKind.AsteriskEqualsToken, ts.SyntaxKind.AsteriskToken],
  [ts.SyntaxKind.SlashEqualsToken, ts.SyntaxKind.SlashToken],
  [ts.SyntaxKind.PercentEqualsToken, ts.SyntaxKind.PercentToken],
  [ts.SyntaxKind.AmpersandEqualsToken, ts.SyntaxKind.AmpersandToken],
  [ts.SyntaxKind.BarEqualsToken, ts.SyntaxKind.BarToken],
  [ts.SyntaxKind.CaretEqualsToken, ts.SyntaxKind.CaretToken],
  [ts.SyntaxKind.LessThanLessThanEqualsToken, ts.SyntaxKind.LessThanLessThanToken],
  [ts.SyntaxKind.GreaterThanGreaterThanEqualsToken, ts.SyntaxKind.GreaterThanGreaterThanToken],
  [ts.SyntaxKind.GreaterThanGreaterThanGreaterThanEqualsToken, ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken],
]);

const UNKNOWN_CALL_HINT = 'only functions of the policy modules, map methods (lookup/update/delete), stackalloc and integer casts such as u32(x) are translated';

class Scope {
  readonly vars = new Map<string, LocalVar>();
  constructor(readonly parent: Scope | null) {}
  find(name: string): LocalVar | undefined {
    return this.vars.get(name) ?? this.parent?.find(name);
  }
}

/** An integer literal, possibly negated: its type follows the context, as in AssemblyScript. */
export function literalValue(e: ts.Expression): bigint | undefined {
  if (ts.isParenthesizedExpression(e)) return literalValue(e.expression);
  if (ts.isNumericLiteral(e) && !(/[.eE]/.test(e.text) && !/^0[xX]/.test(e.text))) return BigInt(e.text.replace(/_/g, ''));
  if (ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.MinusToken) {
    const v = literalValue(e.operand);
    return v === undefined ? undefined : -v;
  }
  return undefined;
}

/** The type AssemblyScript gives a literal without an integer context. */
function naturalLiteralType(v: bigint): IntName {
  if (v >= -0x80000000n && v <= 0x7fffffffn) return 'i32';
  if (v >= -(1n << 63n) && v < 1n << 63n) return 'i64';
  return 'u64';
}

export function check(graph: ModuleGraph, sink: DiagnosticSink, options: CheckOptions): CheckedProgram {
  const decls = new Declarations(graph, sink);
  return new Checker(graph, decls, sink, options).run();
}

class Checker {
  private readonly program: CheckedProgram;
  private readonly infos = new Map<ts.FunctionDeclaration, FunctionInfo>();
  private readonly queue: FunctionInfo[] = [];
  /** Groups of operands that C evaluates in unspecified order, checked once purity is known. */
  private readonly unsequenced: Array<{ fn: FunctionInfo; operands: ts.Expression[] }> = [];

  // State of the function being checked.
  private fn!: FunctionInfo;
  private mod!: SourceModule;
  private scope!: Scope;
  private facts: Set<LocalVar> = new Set();
  private loopDepth = 0;
  private switchDepth = 0;

  constructor(
    private readonly graph: ModuleGraph,
    private readonly decls: Declarations,
    private readonly sink: DiagnosticSink,
    private readonly options: CheckOptions,
  ) {
    this.program = {
      graph, decls, roots: [], functions: [], types: new Map(), refs: new Map(), locals: new Map(),
      calls: new Map(), mapCalls: new Map(), castCalls: new Map(), stackallocs: new Map(),
    };
  }

  run(): CheckedProgram {
    const entry = this.graph.entry;
    if (entry.sf) {
      const names = [...entry.exports.keys(), ...this.starExportNames(entry)];
      for (const name of [...new Set(names)].sort((a, b) => (a === 'decide' ? -1 : b === 'decide' ? 1 : 0))) {
        const r = resolveLocalExport(entry, name);
        if (r?.kind === 'decl' && ts.isFunctionDeclaration(r.node)) this.program.roots.push(this.functionInfo(r.module, r.node));
      }
      if (this.options.requireDecide) this.checkDecide();
    }
    while (this.queue.length > 0) this.checkFunction(this.queue.shift()!);
    this.findRecursion();
    this.computePurity();
    for (const group of this.unsequenced) this.checkOrder(group.fn, group.operands);
    return this.program;
  }

  private starExportNames(mod: SourceModule): string[] {
    // Only `decide` matters through `export *`: the generator needs the entry's own functions.
    return mod.starExports.some((m) => m && resolveLocalExport(mod, 'decide')) ? ['decide'] : [];
  }

  private checkDecide(): void {
    const entry = this.graph.entry;
    const r = resolveLocalExport(entry, 'decide');
    if (!r || r.kind !== 'decl' || !ts.isFunctionDeclaration(r.node)) {
      this.sink.atFile(entry.rel, 'MC1014', `${entry.rel} does not export a function named decide`,
        'export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8, or re-export one');
      return;
    }
    const fn = this.decls.functionOf(r.module, r.node);
    const want = ['ServiceKey', 'u64', 'u32', 'u64', 'Decision'];
    const got = fn.params.map((p) => (p.type.kind === 'class' ? p.type.cls.name : typeName(p.type)));
    const ok = got.length === want.length && got.every((g, i) => g === want[i]) && fn.ret.kind === 'int' && fn.ret.name === 'u8';
    if (!ok && fn.params.every((p) => p.type.kind !== 'error') && fn.ret.kind !== 'error') {
      this.sink.at(r.node.name ?? r.node, 'MC1014',
        `decide has signature (${got.join(', ')}): ${typeName(fn.ret)}; the hook glue calls (ServiceKey, u64, u32, u64, Decision): u8`,
        'declare decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8');
    }
  }

  private functionInfo(mod: SourceModule, node: ts.FunctionDeclaration): FunctionInfo {
    let info = this.infos.get(node);
    if (info) return info;
    const decl = this.decls.functionOf(mod, node);
    info = { decl, params: [], locals: [], calls: [], writes: false, impure: false };
    this.infos.set(node, info);
    this.program.functions.push(info);
    this.queue.push(info);
    return info;
  }

  // ---- functions and statements ----

  private checkFunction(info: FunctionInfo): void {
    this.fn = info;
    this.mod = info.decl.module;
    this.scope = new Scope(null);
    this.facts = new Set();
    this.loopDepth = 0;
    this.switchDepth = 0;
    const node = info.decl.node;
    for (const mod of ts.getModifiers(node) ?? []) {
      if (mod.kind === ts.SyntaxKind.AsyncKeyword) this.sink.at(mod, 'MC1001', 'async functions are not supported', 'remove async');
    }
    if (node.asteriskToken) this.sink.at(node, 'MC1001', 'generator functions are not supported', 'write a plain function');
    for (const p of info.decl.params) {
      const v = this.declare(p.name, p.type, p.node, { isConst: false });
      info.params.push(v);
    }
    if (!node.body) return;
    const end = this.block(node.body.statements, this.facts);
    if (end !== null && info.decl.ret.kind !== 'void' && info.decl.ret.kind !== 'error') {
      this.sink.at(node.name ?? node, 'MC1015', `function ${info.decl.name} can reach its end without returning a ${typeName(info.decl.ret)}`,
        'end every path with a return statement');
    }
  }

  private declare(name: string, type: Ty, node: ts.Node, flags: Partial<LocalVar>): LocalVar {
    const v: LocalVar = { name, type, node, isConst: false, stackalloc: false, lookup: false, loopCounter: false, ...flags };
    this.scope.vars.set(name, v);
    this.program.locals.set(node, v);
    this.fn.locals.push(v);
    return v;
  }

  private withScope<T>(body: () => T): T {
    const saved = this.scope;
    this.scope = new Scope(saved);
    try {
      return body();
    } finally {
      this.scope = saved;
    }
  }

  private block(stmts: readonly ts.Statement[], facts: Facts): Facts {
    return this.withScope(() => {
      let f = facts;
      for (const s of stmts) {
        const next = this.statement(s, f ?? new Set());
        if (f !== null) f = next;
      }
      return f;
    });
  }

  /** Checks one statement under `facts`; returns the facts after it (null: never completes). */
  private statement(s: ts.Statement, facts: Set<LocalVar>): Facts {
    this.facts = facts;
    if (ts.isBlock(s)) return this.block(s.statements, facts);
    if (ts.isVariableStatement(s)) {
      this.variables(s.declarationList);
      return this.facts;
    }
    if (ts.isExpressionStatement(s)) {
      this.expressionStatement(s.expression);
      return this.facts;
    }
    if (ts.isIfStatement(s)) {
      this.infer(s.expression, int('bool'), true);
      const { whenTrue, whenFalse } = this.conditionFacts(s.expression);
      const thenEnd = this.withScope(() => this.statement(s.thenStatement, union(facts, whenTrue)));
      const elseEnd = s.elseStatement
        ? this.withScope(() => this.statement(s.elseStatement!, union(facts, whenFalse)))
        : union(facts, whenFalse);
      return meet(thenEnd, elseEnd);
    }
    if (ts.isReturnStatement(s)) {
      const ret = this.fn.decl.ret;
      if (s.expression) {
        if (ret.kind === 'void') {
          this.sink.at(s.expression, 'MC1015', `function ${this.fn.decl.name} returns void but this returns a value`, 'remove the value or declare a return type');
          this.infer(s.expression, undefined);
        } else {
          const t = this.infer(s.expression, ret);
          this.assignable(t, ret, s.expression);
        }
      } else if (ret.kind !== 'void' && ret.kind !== 'error') {
        this.sink.at(s, 'MC1015', `return without a value in a function that returns ${typeName(ret)}`, 'return a value');
      }
      return null;
    }
    if (ts.isForStatement(s)) return this.forLoop(s, facts);
    if (ts.isWhileStatement(s) || ts.isDoStatement(s)) {
      this.sink.at(s, 'MC1002', `${ts.isWhileStatement(s) ? 'while' : 'do-while'} loop has no constant bound`,
        'write for (let i: u32 = 0; i < CONSTANT; i++) { ... if (done) break; }');
      this.infer(s.expression, int('bool'), true);
      this.loopDepth++;
      this.withScope(() => this.statement(s.statement, new Set(facts)));
      this.loopDepth--;
      return facts;
    }
    if (ts.isForOfStatement(s) || ts.isForInStatement(s)) {
      this.sink.at(s, 'MC1002', `${ts.isForOfStatement(s) ? 'for...of' : 'for...in'} iterates over a heap object`,
        'write for (let i: u32 = 0; i < CONSTANT; i++) over map indexes');
      return facts;
    }
    if (ts.isBreakStatement(s) || ts.isContinueStatement(s)) {
      if (s.label) this.sink.at(s.label, 'MC1001', 'labelled break/continue is not supported', 'restructure the loop or use a flag');
      return null;
    }
    if (ts.isSwitchStatement(s)) return this.switchStatement(s, facts);
    if (ts.isEmptyStatement(s)) return facts;
    if (ts.isThrowStatement(s) || ts.isTryStatement(s)) {
      this.sink.at(s, 'MC1001', `${ts.isThrowStatement(s) ? 'throw' : 'try'} is not supported: BPF has no exceptions`,
        'return a verdict or reason code instead');
      // Already an error: treat it as leaving the function, to spare follow-on reports.
      return null;
    }
    if (ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s)) {
      this.sink.at(s, 'MC1004', `nested ${ts.isFunctionDeclaration(s) ? 'function' : 'class'} declaration`, 'declare it at module level');
      return facts;
    }
    this.sink.at(s, 'MC1001', `${ts.SyntaxKind[s.kind]} is not supported`, 'see docs/policy-subset.md for the statements the generator translates');
    return facts;
  }

  private variables(list: ts.VariableDeclarationList): void {
    const isConst = (list.flags & ts.NodeFlags.Const) !== 0;
    const isLet = (list.flags & ts.NodeFlags.Let) !== 0;
    if (!isConst && !isLet) {
      this.sink.at(list, 'MC1001', '`var` is function-scoped', 'use let or const');
    }
    for (const d of list.declarations) {
      if (!ts.isIdentifier(d.name)) {
        this.sink.at(d.name, 'MC1001', 'destructuring is not supported', 'declare one variable at a time');
        continue;
      }
      const name = d.name.text;
      const annotated = d.type ? this.decls.typeFrom(this.mod, d.type) : undefined;
      const init = d.initializer;
      if (init && this.isStackalloc(init)) {
        const cls = this.stackallocClass(init as ts.CallExpression);
        if (!isConst) this.sink.at(d, 'MC1016', `stackalloc for ${name} must initialise a const`, `write const ${name} = stackalloc<T>();`);
        if (cls) this.program.stackallocs.set(d, cls);
        const t: Ty = cls ? { kind: 'class', cls, nullable: false } : ERROR;
        if (annotated && cls) this.assignable(t, annotated, init);
        this.declare(name, t, d, { isConst, stackalloc: true });
        continue;
      }
      const lookup = init ? this.mapCall(init) : undefined;
      if (init && lookup?.method === 'lookup') {
        const t = this.infer(init, annotated);
        if (!isConst) this.sink.at(d, 'MC1007', `map lookup result ${name} must be a const`, `write const ${name} = ${init.getText()}; then null-check it`);
        if (annotated && annotated.kind !== 'error' && !(annotated.kind === 'class' && annotated.nullable && t.kind === 'class' && annotated.cls === t.cls)) {
          this.sink.at(d.type!, 'MC1015', `a lookup of ${lookup.map.name} returns ${typeName(t)}, not ${typeName(annotated)}`, `annotate it as ${typeName(t)} or leave the type out`);
        }
        this.declare(name, t, d, { isConst, lookup: t.kind === 'class' });
        continue;
      }
      let t: Ty;
      if (init) {
        t = this.infer(init, annotated);
        if (annotated) {
          this.assignable(t, annotated, init);
          t = annotated;
        }
        if (t.kind === 'class' && !annotated) t = { ...t, nullable: false };
      } else if (annotated) {
        t = annotated;
        if (t.kind === 'class') {
          this.sink.at(d, 'MC1011', `${name} is a class instance without a value`, 'initialise it with stackalloc<T>(), a null-checked map lookup or a parameter');
        }
      } else {
        this.sink.at(d, 'MC1015', `${name} has neither a type nor a value`, `write let ${name}: u32 = 0;`);
        t = ERROR;
      }
      if (t.kind === 'null' || t.kind === 'void') {
        this.sink.at(d, 'MC1015', `${name} cannot hold ${t.kind}`, 'give it an integer value');
        t = ERROR;
      }
      if (t.kind === 'class' && t.nullable) {
        this.sink.at(d, 'MC1011', `${name} is nullable but not a map lookup result`, 'only `const x = map.lookup(key)` produces a nullable instance');
      }
      this.declare(name, t, d, { isConst });
    }
  }

  private isStackalloc(e: ts.Expression): boolean {
    if (!ts.isCallExpression(e) || !ts.isIdentifier(e.expression)) return false;
    const r = this.resolveName(e.expression.text);
    return r === 'stackalloc';
  }

  private stackallocClass(call: ts.CallExpression): ClassDecl | undefined {
    const args = call.typeArguments ?? [];
    if (args.length !== 1 || call.arguments.length !== 0) {
      this.sink.at(call, 'MC1016', 'stackalloc takes one type argument and no arguments', 'write stackalloc<TableKey>()');
      return undefined;
    }
    const t = this.decls.typeFrom(this.mod, args[0]);
    if (t.kind === 'class' && !t.nullable) return t.cls;
    if (t.kind !== 'error') this.sink.at(args[0], 'MC1016', `stackalloc<${args[0].getText()}>: the type must be an @unmanaged class`, 'declare a layout class');
    return undefined;
  }

  private mapCall(e: ts.Expression): { map: MapDecl; method: string } | undefined {
    if (!ts.isCallExpression(e) || !ts.isPropertyAccessExpression(e.expression)) return undefined;
    const recv = e.expression.expression;
    if (!ts.isIdentifier(recv) || this.scope.find(recv.text)) return undefined;
    const r = resolveLocal(this.mod, recv.text);
    const map = r?.kind === 'decl' ? this.decls.mapOf(r.node) : undefined;
    return map ? { map, method: e.expression.name.text } : undefined;
  }

  private expressionStatement(e: ts.Expression): void {
    if (ts.isBinaryExpression(e) && (e.operatorToken.kind === ts.SyntaxKind.EqualsToken || COMPOUND.has(e.operatorToken.kind))) {
      this.assignment(e);
      return;
    }
    if ((ts.isPrefixUnaryExpression(e) || ts.isPostfixUnaryExpression(e))
      && (e.operator === ts.SyntaxKind.PlusPlusToken || e.operator === ts.SyntaxKind.MinusMinusToken)) {
      const t = this.target(e.operand);
      if (t.kind !== 'int' && t.kind !== 'error') this.sink.at(e, 'MC1015', `${e.operator === ts.SyntaxKind.PlusPlusToken ? '++' : '--'} needs an integer`, 'apply it to an integer variable or field');
      this.program.types.set(e, t);
      return;
    }
    this.infer(e, undefined);
  }

  private assignment(e: ts.BinaryExpression): void {
    const t = this.target(e.left);
    const op = COMPOUND.get(e.operatorToken.kind);
    if (op === undefined) {
      const v = this.infer(e.right, t);
      this.assignable(v, t, e.right);
    } else {
      if (t.kind !== 'int' && t.kind !== 'error') {
        this.sink.at(e, 'MC1015', `${e.operatorToken.getText()} needs an integer target, not ${typeName(t)}`, 'apply it to an integer variable or field');
      }
      const r = this.infer(e.right, t);
      if (t.kind === 'int' && r.kind === 'int') {
        const common = this.arithmeticType(op, t, r, e);
        if (common) this.assignable(common, t, e.right);
      }
    }
    this.program.types.set(e, t);
  }

  /** The type of an assignment target, diagnosing targets that cannot be assigned. */
  private target(e: ts.Expression): Ty {
    if (ts.isParenthesizedExpression(e)) return this.target(e.expression);
    if (ts.isIdentifier(e)) {
      const v = this.scope.find(e.text);
      const t = this.infer(e, undefined, true);
      if (!v) {
        if (t.kind !== 'error') this.sink.at(e, 'MC1015', `cannot assign to ${e.text}: it is not a local variable`, 'module-level values are constant; keep state in a map');
        return ERROR;
      }
      if (v.isConst) this.sink.at(e, 'MC1015', `cannot assign to const ${e.text}`, 'declare it with let');
      if (v.loopCounter) this.sink.at(e, 'MC1002', `loop counter ${e.text} is assigned inside its loop`, 'the bound is only guaranteed if the counter moves by the loop\'s own increment; use break');
      if (v.type.kind === 'class' && v.lookup) return ERROR;
      return v.type;
    }
    if (ts.isPropertyAccessExpression(e)) {
      const t = this.infer(e, undefined);
      const base = this.baseLocal(e.expression);
      if (!base || !(base.stackalloc && this.fn.locals.includes(base))) this.fn.writes = true;
      return t;
    }
    this.sink.at(e, 'MC1001', `cannot assign to ${e.getText()}`, 'assign to a local variable or to a field of a class instance');
    this.infer(e, undefined);
    return ERROR;
  }

  private baseLocal(e: ts.Expression): LocalVar | undefined {
    if (ts.isParenthesizedExpression(e)) return this.baseLocal(e.expression);
    return ts.isIdentifier(e) ? this.scope.find(e.text) : undefined;
  }

  private forLoop(s: ts.ForStatement, facts: Set<LocalVar>): Facts {
    return this.withScope(() => {
      let counter: LocalVar | undefined;
      const init = s.initializer;
      if (init && ts.isVariableDeclarationList(init)) {
        this.variables(init);
        const d = init.declarations[0];
        counter = d && init.declarations.length === 1 && (init.flags & ts.NodeFlags.Let) ? this.program.locals.get(d) : undefined;
        if (counter && d.initializer && counter.type.kind === 'int'
          && this.decls.evaluate(this.mod, d.initializer, counter.type.name, false) === undefined) counter = undefined;
      } else if (init) {
        this.infer(init, undefined);
      }
      let last: bigint | undefined;
      let step: bigint | undefined;
      if (s.condition) {
        this.infer(s.condition, int('bool'), true);
        if (counter) last = this.bound(s.condition, counter);
      }
      if (s.incrementor) {
        this.expressionStatement(s.incrementor);
        if (counter) step = this.step(s.incrementor, counter);
      }
      let bounded = last !== undefined && step !== undefined;
      if (bounded && counter?.type.kind === 'int') {
        // The counter must not wrap before it fails the bound (i <= 255 on a u8 never does).
        const info = INTS[counter.type.name];
        const max = info.signed ? (1n << BigInt(info.size * 8 - 1)) - 1n : (1n << BigInt(info.size * 8)) - 1n;
        if (last! + step! > max) {
          bounded = false;
          this.sink.at(s.condition!, 'MC1002', `the ${counter.type.name} counter ${counter.name} wraps around before it reaches the bound`,
            'use a wider counter type or a lower bound');
        }
      }
      if (!bounded && !(last !== undefined && step !== undefined)) {
        this.sink.at(s, 'MC1002', 'for loop has no constant bound',
          'write for (let i: u32 = 0; i < CONSTANT; i++) with a literal or constant bound; leave early with break');
      }
      if (counter) counter.loopCounter = true;
      this.loopDepth++;
      const whenTrue = s.condition ? this.conditionFacts(s.condition).whenTrue : new Set<LocalVar>();
      this.withScope(() => this.statement(s.statement, union(facts, whenTrue)!));
      this.loopDepth--;
      if (counter) counter.loopCounter = false;
      return facts;
    });
  }

  /**
   * `i < BOUND`, `i <= BOUND` (or `BOUND > i`), possibly `&&`-ed with more conditions: the
   * largest value the counter may take inside the loop, or undefined.
   */
  private bound(cond: ts.Expression, counter: LocalVar): bigint | undefined {
    if (ts.isParenthesizedExpression(cond)) return this.bound(cond.expression, counter);
    if (!ts.isBinaryExpression(cond) || counter.type.kind !== 'int') return undefined;
    const op = cond.operatorToken.kind;
    if (op === ts.SyntaxKind.AmpersandAmpersandToken) {
      const l = this.bound(cond.left, counter);
      const r = this.bound(cond.right, counter);
      return l === undefined ? r : r === undefined ? l : l < r ? l : r;
    }
    const isCounter = (x: ts.Expression) => ts.isIdentifier(x) && this.scope.find(x.text) === counter;
    // Evaluated wide, so that a bound past the counter's type shows rather than wraps.
    const value = (x: ts.Expression) => this.decls.evaluate(this.mod, x, INTS[(counter.type as Ty & { kind: 'int' }).name].signed ? 'i64' : 'u64', false);
    let limit: ts.Expression | undefined;
    let inclusive = false;
    if ((op === ts.SyntaxKind.LessThanToken || op === ts.SyntaxKind.LessThanEqualsToken) && isCounter(cond.left)) {
      limit = cond.right;
      inclusive = op === ts.SyntaxKind.LessThanEqualsToken;
    } else if ((op === ts.SyntaxKind.GreaterThanToken || op === ts.SyntaxKind.GreaterThanEqualsToken) && isCounter(cond.right)) {
      limit = cond.left;
      inclusive = op === ts.SyntaxKind.GreaterThanEqualsToken;
    }
    const v = limit && value(limit);
    if (v === undefined) return undefined;
    return inclusive ? v : v - 1n;
  }

  /** `i++`, `++i` or `i += POSITIVE_CONSTANT`: the step, or undefined. */
  private step(inc: ts.Expression, counter: LocalVar): bigint | undefined {
    const isCounter = (x: ts.Expression) => ts.isIdentifier(x) && this.scope.find(x.text) === counter;
    if ((ts.isPostfixUnaryExpression(inc) || ts.isPrefixUnaryExpression(inc)) && inc.operator === ts.SyntaxKind.PlusPlusToken) {
      return isCounter(inc.operand) ? 1n : undefined;
    }
    if (ts.isBinaryExpression(inc) && inc.operatorToken.kind === ts.SyntaxKind.PlusEqualsToken && isCounter(inc.left) && counter.type.kind === 'int') {
      const step = this.decls.evaluate(this.mod, inc.right, counter.type.name, false);
      return step !== undefined && step > 0n ? step : undefined;
    }
    return undefined;
  }

  private switchStatement(s: ts.SwitchStatement, facts: Set<LocalVar>): Facts {
    const t = this.infer(s.expression, undefined);
    if (t.kind !== 'int' && t.kind !== 'error') this.sink.at(s.expression, 'MC1015', `switch on ${typeName(t)}`, 'switch on an integer');
    const seen = new Map<bigint, ts.Node>();
    let lastEnd: Facts = facts;
    this.switchDepth++;
    this.withScope(() => {
      for (const clause of s.caseBlock.clauses) {
        if (ts.isCaseClause(clause) && t.kind === 'int') {
          const ct = this.infer(clause.expression, t);
          this.assignable(ct, t, clause.expression);
          const v = this.decls.evaluate(this.mod, clause.expression, t.name, false);
          if (v === undefined) {
            this.sink.at(clause.expression, 'MC1021', `case ${clause.expression.getText()} is not a compile-time constant`, 'C case labels are constants: use literals or module constants, or an if chain');
          } else if (seen.has(v)) {
            this.sink.at(clause.expression, 'MC1015', `duplicate case value ${v}`, 'remove one of the cases');
          } else seen.set(v, clause);
        }
        let f: Facts = new Set(facts);
        for (const st of clause.statements) {
          const next = this.statement(st, f ?? new Set());
          if (f !== null) f = next;
        }
        lastEnd = f;
      }
    });
    this.switchDepth--;
    // Control leaves a switch by a break, by falling off its last clause, or (without default)
    // when no case matches.
    const hasDefault = s.caseBlock.clauses.some((c) => ts.isDefaultClause(c));
    if (hasDefault && lastEnd === null && !breaksOut(s.caseBlock)) return null;
    return facts;
  }

  // ---- null-check flow ----

  /** The lookup results known non-null when `cond` is true, and when it is false. */
  private conditionFacts(cond: ts.Expression): { whenTrue: Set<LocalVar>; whenFalse: Set<LocalVar> } {
    const none = { whenTrue: new Set<LocalVar>(), whenFalse: new Set<LocalVar>() };
    if (ts.isParenthesizedExpression(cond)) return this.conditionFacts(cond.expression);
    if (ts.isPrefixUnaryExpression(cond) && cond.operator === ts.SyntaxKind.ExclamationToken) {
      const inner = this.conditionFacts(cond.operand);
      return { whenTrue: inner.whenFalse, whenFalse: inner.whenTrue };
    }
    const lookupVar = (x: ts.Expression): LocalVar | undefined => {
      while (ts.isParenthesizedExpression(x)) x = x.expression;
      const v = ts.isIdentifier(x) ? this.scope.find(x.text) : undefined;
      return v?.lookup ? v : undefined;
    };
    const v = lookupVar(cond);
    if (v) return { whenTrue: new Set([v]), whenFalse: new Set() };
    if (!ts.isBinaryExpression(cond)) return none;
    const op = cond.operatorToken.kind;
    if (op === ts.SyntaxKind.AmpersandAmpersandToken) {
      const l = this.conditionFacts(cond.left);
      const r = this.conditionFacts(cond.right);
      return { whenTrue: new Set([...l.whenTrue, ...r.whenTrue]), whenFalse: new Set() };
    }
    if (op === ts.SyntaxKind.BarBarToken) {
      const l = this.conditionFacts(cond.left);
      const r = this.conditionFacts(cond.right);
      return { whenTrue: new Set(), whenFalse: new Set([...l.whenFalse, ...r.whenFalse]) };
    }
    if (EQUALITY.has(op)) {
      const isNull = (x: ts.Expression) => x.kind === ts.SyntaxKind.NullKeyword;
      const subject = isNull(cond.right) ? lookupVar(cond.left) : isNull(cond.left) ? lookupVar(cond.right) : undefined;
      if (!subject) return none;
      const negative = op === ts.SyntaxKind.EqualsEqualsToken || op === ts.SyntaxKind.EqualsEqualsEqualsToken;
      return negative ? { whenTrue: new Set(), whenFalse: new Set([subject]) } : { whenTrue: new Set([subject]), whenFalse: new Set() };
    }
    return none;
  }

  // ---- expressions ----

  private resolveName(name: string): BuiltinName | undefined {
    const r = resolveLocal(this.mod, name);
    return r?.kind === 'builtin' ? r.name : undefined;
  }

  /**
   * The type of `e` in context `ctx` (which types literals, as in AssemblyScript). `cond`: the
   * value is only tested for truth, so a nullable lookup result may appear unchecked.
   */
  private infer(e: ts.Expression, ctx: Ty | undefined, cond = false): Ty {
    const t = this.inferInner(e, ctx, cond);
    this.program.types.set(e, t);
    return t;
  }

  private inferInner(e: ts.Expression, ctx: Ty | undefined, cond: boolean): Ty {
    const sink = this.sink;
    if (ts.isParenthesizedExpression(e)) return this.infer(e.expression, ctx, cond);
    const lit = literalValue(e);
    if (lit !== undefined) {
      if (ctx?.kind === 'int' && !(ctx.name === 'bool' && lit !== 0n && lit !== 1n)) return ctx;
      return int(naturalLiteralType(lit));
    }
    if (ts.isNumericLiteral(e)) {
      sink.at(e, 'MC1006', `float literal ${e.text}`, 'BPF has no floating point: use integers (fixed point if needed)');
      return ERROR;
    }
    switch (e.kind) {
      case ts.SyntaxKind.TrueKeyword:
      case ts.SyntaxKind.FalseKeyword:
        return int('bool');
      case ts.SyntaxKind.NullKeyword:
        return NULL;
      case ts.SyntaxKind.ThisKeyword:
        sink.at(e, 'MC1001', '`this` is not supported', 'write functions that take the instance as a parameter');
        return ERROR;
    }
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e) || ts.isTemplateExpression(e)) {
      sink.at(e, 'MC1005', `${ts.isStringLiteral(e) ? 'string' : 'template'} literal`, 'strings are not supported in BPF; use integer ids');
      return ERROR;
    }
    if (ts.isIdentifier(e)) return this.identifier(e, cond);
    if (ts.isPropertyAccessExpression(e)) return this.propertyAccess(e);
    if (ts.isCallExpression(e)) return this.call(e);
    if (ts.isTypeAssertionExpression(e) || ts.isAsExpression(e)) return this.cast(e, e.type, e.expression);
    if (ts.isBinaryExpression(e)) return this.binary(e, ctx, cond);
    if (ts.isPrefixUnaryExpression(e)) return this.prefix(e, ctx, cond);
    if (ts.isPostfixUnaryExpression(e)) {
      sink.at(e, 'MC1001', `${e.getText()} inside an expression`, 'write increments as their own statement');
      this.infer(e.operand, undefined);
      return ERROR;
    }
    if (ts.isConditionalExpression(e)) {
      this.infer(e.condition, int('bool'), true);
      const { whenTrue, whenFalse } = this.conditionFacts(e.condition);
      const saved = this.facts;
      this.facts = union(saved, whenTrue)!;
      const a = this.infer(e.whenTrue, ctx);
      this.facts = union(saved, whenFalse)!;
      const b = this.infer(e.whenFalse, ctx ?? (a.kind === 'int' ? a : undefined));
      this.facts = saved;
      if (a.kind === 'int' && b.kind === 'int') return this.arithmeticType(ts.SyntaxKind.PlusToken, a, b, e) ?? ERROR;
      if (a.kind === 'class' && b.kind === 'class' && a.cls === b.cls) return a;
      if (a.kind !== 'error' && b.kind !== 'error') sink.at(e, 'MC1015', `the branches have types ${typeName(a)} and ${typeName(b)}`, 'make both branches integers');
      return ERROR;
    }
    if (ts.isNonNullExpression(e)) {
      sink.at(e, 'MC1007', `non-null assertion ${e.getText()}`, 'null-check the value with `if (x == null) return ...;` instead');
      this.infer(e.expression, ctx, true);
      return ERROR;
    }
    if (ts.isNewExpression(e)) {
      sink.at(e, 'MC1004', `\`new ${e.expression.getText()}\` allocates on the heap`, 'use stackalloc<T>() for scratch structs, or declare maps at module level');
      return ERROR;
    }
    if (ts.isArrayLiteralExpression(e) || ts.isObjectLiteralExpression(e) || ts.isElementAccessExpression(e)) {
      sink.at(e, 'MC1004', `${ts.isElementAccessExpression(e) ? 'indexing' : ts.isArrayLiteralExpression(e) ? 'array literal' : 'object literal'} needs heap-allocated arrays or objects`,
        'use a map (ArrayMap for indexes) or an @unmanaged class');
      return ERROR;
    }
    if (ts.isArrowFunction(e) || ts.isFunctionExpression(e)) {
      sink.at(e, 'MC1004', 'closures are not supported', 'declare a named function at module level');
      return ERROR;
    }
    sink.at(e, 'MC1001', `${ts.SyntaxKind[e.kind]} is not supported`, 'see docs/policy-subset.md for the expressions the generator translates');
    return ERROR;
  }

  private identifier(e: ts.Identifier, cond: boolean): Ty {
    if (e.text === '') return ERROR; // a parser-inserted placeholder: the syntax error is reported
    const v = this.scope.find(e.text);
    if (v) {
      this.program.refs.set(e, { kind: 'local', v });
      if (v.type.kind === 'class' && v.lookup) {
        if (this.facts.has(v)) return { ...v.type, nullable: false };
        if (!cond && !this.inNullComparison(e)) {
          this.sink.at(e, 'MC1007', `${e.text} may be null here: it is a map lookup result that has not been checked`,
            `return early with if (${e.text} == null) return ...; or use it inside if (${e.text} != null) { ... }`);
          return ERROR;
        }
      }
      return v.type;
    }
    if (e.text === 'undefined' || e.text === 'NaN' || e.text === 'Infinity') {
      this.sink.at(e, e.text === 'undefined' ? 'MC1015' : 'MC1006', `${e.text} is not supported`, 'use integers');
      return ERROR;
    }
    const r = resolveLocal(this.mod, e.text);
    if (r?.kind === 'decl') {
      const c = this.decls.constOf(r.node);
      if (c) {
        this.program.refs.set(e, { kind: 'const', c });
        return int(c.type);
      }
      const m = this.decls.mapOf(r.node);
      if (m) {
        this.program.refs.set(e, { kind: 'map', m });
        this.sink.at(e, 'MC1015', `map ${m.name} used as a value`, 'call its methods: lookup, update, delete');
        return ERROR;
      }
      if (ts.isFunctionDeclaration(r.node)) {
        this.sink.at(e, 'MC1004', `function ${e.text} used as a value (a closure)`, 'call it directly');
        return ERROR;
      }
      if (ts.isClassDeclaration(r.node)) {
        this.sink.at(e, 'MC1015', `class ${e.text} used as a value`, 'use stackalloc<T>() for an instance');
        return ERROR;
      }
      // A module-level declaration that was rejected when read (mutable, non-constant): already reported.
      return ERROR;
    }
    if (r?.kind === 'builtin') {
      this.sink.at(e, 'MC1015', `${e.text} used as a value`, r.name === 'stackalloc' ? 'call it: const x = stackalloc<T>();' : 'declare maps at module level');
      return ERROR;
    }
    const imp = this.mod.imports.get(e.text);
    if (imp && imp.module === null) return ERROR; // unresolved import, reported by read
    if (imp) {
      this.sink.at(e, 'MC1013', `${e.text} is not exported by ${imp.module!.rel}`, 'check the import');
      return ERROR;
    }
    this.sink.at(e, 'MC1015', `unknown name ${e.text}`, 'declare it, or import it from a policy module');
    return ERROR;
  }

  /** `x == null` / `x != null`: comparing a lookup result with null is its check, not a use. */
  private inNullComparison(e: ts.Node): boolean {
    let p = e.parent;
    while (ts.isParenthesizedExpression(p)) p = p.parent;
    return ts.isBinaryExpression(p) && EQUALITY.has(p.operatorToken.kind)
      && (p.left.kind === ts.SyntaxKind.NullKeyword || p.right.kind === ts.SyntaxKind.NullKeyword);
  }

  private propertyAccess(e: ts.PropertyAccessExpression): Ty {
    if (e.questionDotToken) {
      this.sink.at(e, 'MC1001', 'optional chaining (?.) is not supported', 'null-check the value first');
    }
    const base = this.infer(e.expression, undefined);
    if (base.kind === 'error') return ERROR;
    if (base.kind !== 'class') {
      this.sink.at(e, 'MC1015', `${e.expression.getText()} (${typeName(base)}) has no field ${e.name.text}`,
        ts.isIdentifier(e.expression) && e.expression.text === 'memory' ? UNKNOWN_CALL_HINT : 'fields belong to @unmanaged class instances');
      return ERROR;
    }
    const field = base.cls.fields.find((f) => f.name === e.name.text);
    if (!field) {
      this.sink.at(e.name, 'MC1015', `${base.cls.name} has no field ${e.name.text}`,
        `fields of ${base.cls.name}: ${base.cls.fields.map((f) => f.name).join(', ')}`);
      return ERROR;
    }
    return int(field.type);
  }

  private call(e: ts.CallExpression): Ty {
    const sink = this.sink;
    const callee = e.expression;
    if (e.questionDotToken) sink.at(e, 'MC1001', 'optional call (?.) is not supported', 'call the function directly');
    if (ts.isPropertyAccessExpression(callee)) {
      const mc = this.mapCall(e);
      if (mc) return this.mapMethod(e, mc.map, mc.method);
      sink.at(e, 'MC1008', `unknown call ${callee.getText()}(...)`, UNKNOWN_CALL_HINT);
      for (const a of e.arguments) this.infer(a, undefined);
      return ERROR;
    }
    if (!ts.isIdentifier(callee)) {
      sink.at(e, 'MC1008', `unknown call ${callee.getText()}(...)`, UNKNOWN_CALL_HINT);
      return ERROR;
    }
    const name = callee.text;
    if (!this.scope.find(name)) {
      if (isIntName(name) && !resolveLocal(this.mod, name)) {
        if (e.arguments.length !== 1) {
          sink.at(e, 'MC1015', `${name}(x) takes one argument`, `write ${name}(value)`);
          return ERROR;
        }
        this.program.castCalls.set(e, name);
        return this.convert(e, name, e.arguments[0]);
      }
      const r = resolveLocal(this.mod, name);
      if (r?.kind === 'builtin') {
        if (r.name === 'stackalloc') {
          sink.at(e, 'MC1016', 'stackalloc<T>() may only initialise a const', 'write const x = stackalloc<T>(); on its own line');
        } else {
          sink.at(e, 'MC1004', `${name} used without new`, 'declare maps at module level');
        }
        return ERROR;
      }
      if (r?.kind === 'decl' && ts.isFunctionDeclaration(r.node)) {
        const info = this.functionInfo(r.module, r.node);
        this.program.calls.set(e, info);
        this.fn.calls.push({ callee: info, node: e });
        if (e.typeArguments?.length) sink.at(e, 'MC1001', `type arguments in a call to ${name}`, 'call non-generic functions');
        const params = info.decl.params;
        if (e.arguments.length !== params.length) {
          sink.at(e, 'MC1015', `${name} takes ${params.length} argument${params.length === 1 ? '' : 's'}, got ${e.arguments.length}`, 'pass every parameter');
        }
        e.arguments.forEach((a, i) => {
          const want = params[i]?.type;
          const got = this.infer(a, want);
          if (want) this.assignable(got, want, a);
        });
        if (e.arguments.length > 1) this.unsequenced.push({ fn: this.fn, operands: [...e.arguments] });
        return info.decl.ret;
      }
    }
    sink.at(callee, 'MC1008', `unknown call ${name}(...)`, UNKNOWN_CALL_HINT);
    for (const a of e.arguments) this.infer(a, undefined);
    return ERROR;
  }

  private mapMethod(e: ts.CallExpression, map: MapDecl, method: string): Ty {
    const sink = this.sink;
    if (method !== 'lookup' && method !== 'update' && method !== 'delete') {
      sink.at(e.expression, 'MC1008', `unknown map method ${map.name}.${method}`, 'maps have lookup(key), update(key, value) and delete(key)');
      return ERROR;
    }
    this.program.mapCalls.set(e, { map, method });
    const want = method === 'update' ? 2 : 1;
    if (e.arguments.length !== want) {
      sink.at(e, 'MC1015', `${map.name}.${method} takes ${want} argument${want > 1 ? 's' : ''}`, method === 'update' ? 'pass a key and a value' : 'pass a key');
    }
    const keyType: Ty = map.key ? { kind: 'class', cls: map.key, nullable: false } : int('u32');
    const valueType: Ty = { kind: 'class', cls: map.value, nullable: false };
    const [k, v] = e.arguments;
    if (k) this.assignable(this.infer(k, keyType), keyType, k);
    if (v) this.assignable(this.infer(v, valueType), valueType, v);
    if (e.arguments.length > 1) this.unsequenced.push({ fn: this.fn, operands: [...e.arguments] });
    if (method === 'update' || method === 'delete') {
      if (map.kind === 'ArrayMap' && method === 'delete') {
        sink.at(e, 'MC1015', `${map.name} is an ArrayMap: its entries cannot be deleted`, 'update the entry with a zeroed value');
      }
      this.fn.writes = true;
      return method === 'update' ? int('i32') : int('bool');
    }
    const parent = skipParensUp(e);
    if (!(ts.isVariableDeclaration(parent) && parent.initializer && unparen(parent.initializer) === e)) {
      sink.at(e, 'MC1007', `the result of ${map.name}.lookup is used without a null check`,
        `bind it first: const x = ${e.getText()}; if (x == null) return ...;`);
      return ERROR;
    }
    return { kind: 'class', cls: map.value, nullable: true };
  }

  private cast(e: ts.Expression, typeNode: ts.TypeNode, operand: ts.Expression): Ty {
    const text = typeNode.getText();
    if (!isIntName(text) && text !== 'boolean') {
      const t = this.decls.typeFrom(this.mod, typeNode);
      if (t.kind === 'class') {
        this.sink.at(e, 'MC1011', `cast to class ${text}`, 'instances come from stackalloc<T>(), map lookups or parameters');
      } else if (t.kind !== 'error') {
        this.sink.at(e, 'MC1015', `cast to ${text} is not supported`, 'cast between integer types only');
      }
      this.infer(operand, undefined);
      return ERROR;
    }
    return this.convert(e, text === 'boolean' ? 'bool' : text, operand);
  }

  private convert(e: ts.Expression, to: IntName, operand: ts.Expression): Ty {
    const t = this.infer(operand, int(to));
    if (t.kind !== 'int' && t.kind !== 'error') {
      this.sink.at(e, 'MC1015', `cannot convert ${typeName(t)} to ${to}`, 'convert integers only');
      return ERROR;
    }
    return int(to);
  }

  private prefix(e: ts.PrefixUnaryExpression, ctx: Ty | undefined, cond: boolean): Ty {
    switch (e.operator) {
      case ts.SyntaxKind.ExclamationToken:
        this.infer(e.operand, int('bool'), true);
        return int('bool');
      case ts.SyntaxKind.PlusPlusToken:
      case ts.SyntaxKind.MinusMinusToken:
        this.sink.at(e, 'MC1001', `${e.getText()} inside an expression`, 'write increments as their own statement');
        this.infer(e.operand, undefined);
        return ERROR;
    }
    const t = this.infer(e.operand, ctx, cond);
    if (t.kind !== 'int') {
      if (t.kind !== 'error') this.sink.at(e, 'MC1015', `unary operator on ${typeName(t)}`, 'apply it to an integer');
      return ERROR;
    }
    return t;
  }

  private binary(e: ts.BinaryExpression, ctx: Ty | undefined, cond: boolean): Ty {
    const op = e.operatorToken.kind;
    const sink = this.sink;
    if (op === ts.SyntaxKind.EqualsToken || COMPOUND.has(op)) {
      sink.at(e, 'MC1001', 'assignment inside an expression', 'assign in its own statement');
      this.infer(e.left, undefined);
      this.infer(e.right, undefined);
      return ERROR;
    }
    if (op === ts.SyntaxKind.AmpersandAmpersandToken || op === ts.SyntaxKind.BarBarToken) {
      const l = this.infer(e.left, int('bool'), true);
      const { whenTrue, whenFalse } = this.conditionFacts(e.left);
      const saved = this.facts;
      this.facts = union(saved, op === ts.SyntaxKind.AmpersandAmpersandToken ? whenTrue : whenFalse)!;
      const r = this.infer(e.right, int('bool'), true);
      this.facts = saved;
      const isBool = (t: Ty) => (t.kind === 'int' && t.name === 'bool') || t.kind === 'error';
      if (!cond && !(isBool(l) && isBool(r))) {
        sink.at(e, 'MC1015', `${e.operatorToken.getText()} on ${typeName(l)} and ${typeName(r)} used as a value`,
          'in AssemblyScript this yields one of the operands, in C 0 or 1: compare each side with 0 first');
      }
      return int('bool');
    }
    if (COMPARISONS.has(op)) {
      const isNull = (x: ts.Expression) => unparen(x).kind === ts.SyntaxKind.NullKeyword;
      if (isNull(e.left) || isNull(e.right)) {
        if (!EQUALITY.has(op)) sink.at(e, 'MC1015', `${e.operatorToken.getText()} with null`, 'compare with == null or != null');
        const other = isNull(e.left) ? e.right : e.left;
        const t = this.infer(other, undefined, true);
        this.program.types.set(isNull(e.left) ? e.left : e.right, NULL);
        if (t.kind !== 'class' && t.kind !== 'error') sink.at(e, 'MC1015', `${typeName(t)} compared with null`, 'only map lookup results can be null');
        return int('bool');
      }
      let l: Ty, r: Ty;
      if (literalValue(e.left) !== undefined && literalValue(e.right) === undefined) {
        r = this.infer(e.right, undefined);
        l = this.infer(e.left, r.kind === 'int' ? r : undefined);
      } else {
        l = this.infer(e.left, undefined);
        r = this.infer(e.right, l.kind === 'int' ? l : undefined);
      }
      this.unsequenced.push({ fn: this.fn, operands: [e.left, e.right] });
      if (l.kind === 'error' || r.kind === 'error') return int('bool');
      if (l.kind === 'class' && r.kind === 'class' && EQUALITY.has(op)) {
        if (l.cls !== r.cls) sink.at(e, 'MC1015', `comparing ${l.cls.name} with ${r.cls.name}`, 'compare instances of the same class');
        return int('bool');
      }
      if (l.kind !== 'int' || r.kind !== 'int') {
        sink.at(e, 'MC1015', `${e.operatorToken.getText()} on ${typeName(l)} and ${typeName(r)}`, 'compare integers');
        return int('bool');
      }
      const a = INTS[l.name];
      const b = INTS[r.name];
      if (a.signed !== b.signed && l.name !== 'bool' && r.name !== 'bool') {
        sink.at(e, 'MC1015', `comparison of ${l.name} with ${r.name} mixes signed and unsigned`,
          `convert one side explicitly, e.g. <${a.signed ? r.name : l.name}>x`);
      }
      return int('bool');
    }
    if (ARITHMETIC.has(op)) {
      const l = this.infer(e.left, ctx?.kind === 'int' ? ctx : undefined);
      const r = this.infer(e.right, l.kind === 'int' ? l : undefined);
      this.unsequenced.push({ fn: this.fn, operands: [e.left, e.right] });
      if (l.kind === 'error' || r.kind === 'error') return ERROR;
      if (l.kind !== 'int' || r.kind !== 'int') {
        sink.at(e, 'MC1015', `${e.operatorToken.getText()} on ${typeName(l)} and ${typeName(r)}`, 'arithmetic works on integers');
        return ERROR;
      }
      return this.arithmeticType(op, l, r, e) ?? ERROR;
    }
    const opText = e.operatorToken.getText();
    sink.at(e.operatorToken, 'MC1001', `operator ${opText} is not supported`,
      opText === '**' ? 'multiply explicitly' : opText === ',' ? 'split into statements' : 'see docs/policy-subset.md');
    this.infer(e.left, undefined);
    this.infer(e.right, undefined);
    return ERROR;
  }

  /** The type AssemblyScript computes `l op r` in: the wider operand, the left one on a tie. */
  arithmeticType(op: ts.SyntaxKind, l: Ty & { kind: 'int' }, r: Ty & { kind: 'int' }, at: ts.Node): (Ty & { kind: 'int' }) | undefined {
    const t = SHIFTS.has(op) ? l : INTS[r.name].size <= INTS[l.name].size ? l : r;
    if ((op === ts.SyntaxKind.SlashToken || op === ts.SyntaxKind.PercentToken) && INTS[t.name].signed) {
      this.sink.at(at, 'MC1017', `signed ${op === ts.SyntaxKind.SlashToken ? 'division' : 'remainder'} (${t.name})`,
        'BPF before CPU v4 (kernel 6.6) has no signed divide: use unsigned types');
      return undefined;
    }
    return t;
  }

  /** Reports an implicit conversion AssemblyScript would refuse. */
  private assignable(from: Ty, to: Ty, at: ts.Node): void {
    if (from.kind === 'error' || to.kind === 'error') return;
    if (from.kind === 'int' && to.kind === 'int') {
      if (from.name === to.name) return;
      if (to.name === 'bool') {
        this.sink.at(at, 'MC1015', `conversion from ${from.name} to bool requires an explicit cast`, `write <bool>(x) or compare with 0`);
      } else if (INTS[from.name].size > INTS[to.name].size) {
        this.sink.at(at, 'MC1015', `conversion from ${from.name} to ${to.name} requires an explicit cast`, `write <${to.name}>(x) to truncate`);
      }
      return;
    }
    if (from.kind === 'class' && to.kind === 'class') {
      if (from.cls !== to.cls) this.sink.at(at, 'MC1015', `${from.cls.name} is not a ${to.cls.name}`, `pass a ${to.cls.name}`);
      else if (from.nullable && !to.nullable) this.sink.at(at, 'MC1007', `a ${from.cls.name} that may be null is passed on`, 'null-check it first');
      return;
    }
    this.sink.at(at, 'MC1015', `${typeName(from)} is not assignable to ${typeName(to)}`, `pass a ${typeName(to)}`);
  }

  // ---- whole-program checks ----

  private findRecursion(): void {
    const state = new Map<FunctionInfo, 'active' | 'done'>();
    const stack: FunctionInfo[] = [];
    const visit = (f: FunctionInfo) => {
      state.set(f, 'active');
      stack.push(f);
      for (const { callee, node } of f.calls) {
        const s = state.get(callee);
        if (s === 'active') {
          const cycle = stack.slice(stack.indexOf(callee)).map((x) => x.decl.name);
          const message = callee === f
            ? `recursion: ${f.decl.name} calls itself`
            : `recursion: ${[...cycle, callee.decl.name].join(' -> ')}`;
          this.sink.at(node, 'MC1003', message, 'BPF has no recursion and a 512-byte stack: rewrite it as a loop with a constant bound');
        } else if (s === undefined) visit(callee);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of this.program.functions) if (!state.has(f)) visit(f);
  }

  private computePurity(): void {
    for (const f of this.program.functions) f.impure = f.writes;
    let changed = true;
    while (changed) {
      changed = false;
      for (const f of this.program.functions) {
        if (!f.impure && f.calls.some((c) => c.callee.impure)) {
          f.impure = true;
          changed = true;
        }
      }
    }
  }

  /**
   * C leaves the order of operands (of arithmetic, comparisons, arguments) unspecified, while
   * AssemblyScript evaluates left to right: refuse a call that writes memory next to an operand
   * that reads memory or calls.
   */
  private checkOrder(fn: FunctionInfo, operands: ts.Expression[]): void {
    const effects = operands.map((o) => this.effects(o));
    for (let i = 0; i < operands.length; i++) {
      const writer = effects[i].writer;
      if (writer === undefined) continue;
      const j = effects.findIndex((x, k) => k !== i && x.reads);
      if (j >= 0) {
        this.sink.at(operands[i], 'MC1018',
          `the call to ${writer} writes memory, and ${operands[j].getText()} is evaluated in an order C does not fix`,
          `bind the call's result to a const in a statement before (in ${fn.decl.name})`);
        return;
      }
    }
  }

  private effects(e: ts.Node): { writer: string | undefined; reads: boolean } {
    let writer: string | undefined;
    let reads = false;
    const walk = (n: ts.Node): void => {
      if (ts.isCallExpression(n)) {
        reads = true;
        const f = this.program.calls.get(n);
        if (f?.impure && writer === undefined) writer = f.decl.name;
        const m = this.program.mapCalls.get(n);
        if (m && m.method !== 'lookup' && writer === undefined) writer = `${m.map.name}.${m.method}`;
      }
      if (ts.isPropertyAccessExpression(n)) reads = true;
      ts.forEachChild(n, walk);
    };
    walk(e);
    return { writer, reads };
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

/** Whether a break inside `n` leaves the enclosing switch (not an inner loop or switch). */
function breaksOut(n: ts.Node): boolean {
  let found = false;
  const walk = (x: ts.Node): void => {
    if (found) return;
    if (ts.isBreakStatement(x) && !x.label) found = true;
    else if (!(ts.isIterationStatement(x, false) || ts.isSwitchStatement(x) || ts.isFunctionLike(x))) ts.forEachChild(x, walk);
  };
  ts.forEachChild(n, walk);
  return found;
}

function union(a: Set<LocalVar>, b: Set<LocalVar>): Set<LocalVar> {
  return new Set([...a, ...b]);
}

/** Facts at a join: what holds on every path that gets there. */
function meet(a: Facts, b: Facts): Facts {
  if (a === null) return b;
  if (b === null) return a;
  return new Set([...a].filter((v) => b.has(v)));
}

export function unparen(e: ts.Expression): ts.Expression {
  while (ts.isParenthesizedExpression(e)) e = e.expression;
  return e;
}

function skipParensUp(e: ts.Node): ts.Node {
  let p = e.parent;
  while (ts.isParenthesizedExpression(p)) p = p.parent;
  return p;
}

