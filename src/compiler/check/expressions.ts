// Expression typing: the type of every expression as AssemblyScript infers it (literals take
// their context's type), with what the subset refuses in expressions: strings, floats, closures,
// allocation, unknown calls, unchecked lookups, mixed signedness, implicit narrowing.
import ts from 'typescript';
import { resolveLocal, type BuiltinName } from '../read.ts';
import { ARITHMETIC, COMPARISONS, COMPOUND, EQUALITY, SHIFTS, literalValue, parentOutsideParens, unparen } from '../syntax.ts';
import {
  ERROR, INTS, NULL, int, isIntName, typeName,
  type ClassDecl, type IntName, type MapDecl, type Ty,
} from '../types.ts';
import type { CallGraph } from './call-graph.ts';
import { conditionFacts, inNullComparison, union } from './null-facts.ts';
import type { CheckState } from './state.ts';

const UNKNOWN_CALL_HINT = 'only functions of the policy modules, map methods (lookup/update/delete), stackalloc and integer casts such as u32(x) are translated';

/** The type AssemblyScript gives a literal without an integer context. */
function naturalLiteralType(v: bigint): IntName {
  if (v >= -0x80000000n && v <= 0x7fffffffn) return 'i32';
  if (v >= -(1n << 63n) && v < 1n << 63n) return 'i64';
  return 'u64';
}

export class ExpressionChecker {
  constructor(private readonly state: CheckState, private readonly calls: CallGraph) {}

  isStackalloc(e: ts.Expression): boolean {
    if (!ts.isCallExpression(e) || !ts.isIdentifier(e.expression)) return false;
    const r = this.resolveName(e.expression.text);
    return r === 'stackalloc';
  }

  stackallocClass(call: ts.CallExpression): ClassDecl | undefined {
    const args = call.typeArguments ?? [];
    if (args.length !== 1 || call.arguments.length !== 0) {
      this.state.sink.at(call, 'MC1016', 'stackalloc takes one type argument and no arguments', 'write stackalloc<TableKey>()');
      return undefined;
    }
    const t = this.state.decls.typeFrom(this.state.mod, args[0]);
    if (t.kind === 'class' && !t.nullable) return t.cls;
    if (t.kind !== 'error') this.state.sink.at(args[0], 'MC1016', `stackalloc<${args[0].getText()}>: the type must be an @unmanaged class`, 'declare a layout class');
    return undefined;
  }

  mapCall(e: ts.Expression): { map: MapDecl; method: string } | undefined {
    if (!ts.isCallExpression(e) || !ts.isPropertyAccessExpression(e.expression)) return undefined;
    const recv = e.expression.expression;
    if (!ts.isIdentifier(recv) || this.state.scope.find(recv.text)) return undefined;
    const r = resolveLocal(this.state.mod, recv.text);
    const map = r?.kind === 'decl' ? this.state.decls.mapOf(r.node) : undefined;
    return map ? { map, method: e.expression.name.text } : undefined;
  }

  private resolveName(name: string): BuiltinName | undefined {
    const r = resolveLocal(this.state.mod, name);
    return r?.kind === 'builtin' ? r.name : undefined;
  }

  /**
   * The type of `e` in context `ctx` (which types literals, as in AssemblyScript). `cond`: the
   * value is only tested for truth, so a nullable lookup result may appear unchecked.
   */
  infer(e: ts.Expression, ctx: Ty | undefined, cond = false): Ty {
    const t = this.inferInner(e, ctx, cond);
    this.state.program.types.set(e, t);
    return t;
  }

  private inferInner(e: ts.Expression, ctx: Ty | undefined, cond: boolean): Ty {
    const sink = this.state.sink;
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
      const { whenTrue, whenFalse } = conditionFacts(e.condition, this.state.scope);
      const saved = this.state.facts;
      this.state.facts = union(saved, whenTrue)!;
      const a = this.infer(e.whenTrue, ctx);
      this.state.facts = union(saved, whenFalse)!;
      const b = this.infer(e.whenFalse, ctx ?? (a.kind === 'int' ? a : undefined));
      this.state.facts = saved;
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
    const v = this.state.scope.find(e.text);
    if (v) {
      this.state.program.refs.set(e, { kind: 'local', v });
      if (v.type.kind === 'class' && v.lookup) {
        if (this.state.facts.has(v)) return { ...v.type, nullable: false };
        if (!cond && !inNullComparison(e)) {
          this.state.sink.at(e, 'MC1007', `${e.text} may be null here: it is a map lookup result that has not been checked`,
            `return early with if (${e.text} == null) return ...; or use it inside if (${e.text} != null) { ... }`);
          return ERROR;
        }
      }
      return v.type;
    }
    if (e.text === 'undefined' || e.text === 'NaN' || e.text === 'Infinity') {
      this.state.sink.at(e, e.text === 'undefined' ? 'MC1015' : 'MC1006', `${e.text} is not supported`, 'use integers');
      return ERROR;
    }
    const r = resolveLocal(this.state.mod, e.text);
    if (r?.kind === 'decl') {
      const c = this.state.decls.constOf(r.node);
      if (c) {
        this.state.program.refs.set(e, { kind: 'const', c });
        return int(c.type);
      }
      const m = this.state.decls.mapOf(r.node);
      if (m) {
        this.state.program.refs.set(e, { kind: 'map', m });
        this.state.sink.at(e, 'MC1015', `map ${m.name} used as a value`, 'call its methods: lookup, update, delete');
        return ERROR;
      }
      if (ts.isFunctionDeclaration(r.node)) {
        this.state.sink.at(e, 'MC1004', `function ${e.text} used as a value (a closure)`, 'call it directly');
        return ERROR;
      }
      if (ts.isClassDeclaration(r.node)) {
        this.state.sink.at(e, 'MC1015', `class ${e.text} used as a value`, 'use stackalloc<T>() for an instance');
        return ERROR;
      }
      // A module-level declaration that was rejected when read (mutable, non-constant): already reported.
      return ERROR;
    }
    if (r?.kind === 'builtin') {
      this.state.sink.at(e, 'MC1015', `${e.text} used as a value`, r.name === 'stackalloc' ? 'call it: const x = stackalloc<T>();' : 'declare maps at module level');
      return ERROR;
    }
    const imp = this.state.mod.imports.get(e.text);
    if (imp && imp.module === null) return ERROR; // unresolved import, reported by read
    if (imp) {
      this.state.sink.at(e, 'MC1013', `${e.text} is not exported by ${imp.module!.rel}`, 'check the import');
      return ERROR;
    }
    this.state.sink.at(e, 'MC1015', `unknown name ${e.text}`, 'declare it, or import it from a policy module');
    return ERROR;
  }

  private propertyAccess(e: ts.PropertyAccessExpression): Ty {
    if (e.questionDotToken) {
      this.state.sink.at(e, 'MC1001', 'optional chaining (?.) is not supported', 'null-check the value first');
    }
    const base = this.infer(e.expression, undefined);
    if (base.kind === 'error') return ERROR;
    if (base.kind !== 'class') {
      this.state.sink.at(e, 'MC1015', `${e.expression.getText()} (${typeName(base)}) has no field ${e.name.text}`,
        ts.isIdentifier(e.expression) && e.expression.text === 'memory' ? UNKNOWN_CALL_HINT : 'fields belong to @unmanaged class instances');
      return ERROR;
    }
    const field = base.cls.fields.find((f) => f.name === e.name.text);
    if (!field) {
      this.state.sink.at(e.name, 'MC1015', `${base.cls.name} has no field ${e.name.text}`,
        `fields of ${base.cls.name}: ${base.cls.fields.map((f) => f.name).join(', ')}`);
      return ERROR;
    }
    return int(field.type);
  }

  private call(e: ts.CallExpression): Ty {
    const sink = this.state.sink;
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
    if (!this.state.scope.find(name)) {
      if (isIntName(name) && !resolveLocal(this.state.mod, name)) {
        if (e.arguments.length !== 1) {
          sink.at(e, 'MC1015', `${name}(x) takes one argument`, `write ${name}(value)`);
          return ERROR;
        }
        this.state.program.castCalls.set(e, name);
        return this.convert(e, name, e.arguments[0]);
      }
      const r = resolveLocal(this.state.mod, name);
      if (r?.kind === 'builtin') {
        if (r.name === 'stackalloc') {
          sink.at(e, 'MC1016', 'stackalloc<T>() may only initialise a const', 'write const x = stackalloc<T>(); on its own line');
        } else {
          sink.at(e, 'MC1004', `${name} used without new`, 'declare maps at module level');
        }
        return ERROR;
      }
      if (r?.kind === 'decl' && ts.isFunctionDeclaration(r.node)) {
        const info = this.calls.functionInfo(r.module, r.node);
        this.state.program.calls.set(e, info);
        this.state.fn.calls.push({ callee: info, node: e });
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
        if (e.arguments.length > 1) this.calls.unordered(e.arguments);
        return info.decl.ret;
      }
    }
    sink.at(callee, 'MC1008', `unknown call ${name}(...)`, UNKNOWN_CALL_HINT);
    for (const a of e.arguments) this.infer(a, undefined);
    return ERROR;
  }

  private mapMethod(e: ts.CallExpression, map: MapDecl, method: string): Ty {
    const sink = this.state.sink;
    if (method !== 'lookup' && method !== 'update' && method !== 'delete') {
      sink.at(e.expression, 'MC1008', `unknown map method ${map.name}.${method}`, 'maps have lookup(key), update(key, value) and delete(key)');
      return ERROR;
    }
    this.state.program.mapCalls.set(e, { map, method });
    const want = method === 'update' ? 2 : 1;
    if (e.arguments.length !== want) {
      sink.at(e, 'MC1015', `${map.name}.${method} takes ${want} argument${want > 1 ? 's' : ''}`, method === 'update' ? 'pass a key and a value' : 'pass a key');
    }
    const keyType: Ty = map.key ? { kind: 'class', cls: map.key, nullable: false } : int('u32');
    const valueType: Ty = { kind: 'class', cls: map.value, nullable: false };
    const [k, v] = e.arguments;
    if (k) this.assignable(this.infer(k, keyType), keyType, k);
    if (v) this.assignable(this.infer(v, valueType), valueType, v);
    if (e.arguments.length > 1) this.calls.unordered(e.arguments);
    if (method === 'update' || method === 'delete') {
      if (map.kind === 'ArrayMap' && method === 'delete') {
        sink.at(e, 'MC1015', `${map.name} is an ArrayMap: its entries cannot be deleted`, 'update the entry with a zeroed value');
      }
      this.state.fn.writes = true;
      return method === 'update' ? int('i32') : int('bool');
    }
    const parent = parentOutsideParens(e);
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
      const t = this.state.decls.typeFrom(this.state.mod, typeNode);
      if (t.kind === 'class') {
        this.state.sink.at(e, 'MC1011', `cast to class ${text}`, 'instances come from stackalloc<T>(), map lookups or parameters');
      } else if (t.kind !== 'error') {
        this.state.sink.at(e, 'MC1015', `cast to ${text} is not supported`, 'cast between integer types only');
      }
      this.infer(operand, undefined);
      return ERROR;
    }
    return this.convert(e, text === 'boolean' ? 'bool' : text, operand);
  }

  private convert(e: ts.Expression, to: IntName, operand: ts.Expression): Ty {
    const t = this.infer(operand, int(to));
    if (t.kind !== 'int' && t.kind !== 'error') {
      this.state.sink.at(e, 'MC1015', `cannot convert ${typeName(t)} to ${to}`, 'convert integers only');
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
        this.state.sink.at(e, 'MC1001', `${e.getText()} inside an expression`, 'write increments as their own statement');
        this.infer(e.operand, undefined);
        return ERROR;
    }
    const t = this.infer(e.operand, ctx, cond);
    if (t.kind !== 'int') {
      if (t.kind !== 'error') this.state.sink.at(e, 'MC1015', `unary operator on ${typeName(t)}`, 'apply it to an integer');
      return ERROR;
    }
    return t;
  }

  private binary(e: ts.BinaryExpression, ctx: Ty | undefined, cond: boolean): Ty {
    const op = e.operatorToken.kind;
    const sink = this.state.sink;
    if (op === ts.SyntaxKind.EqualsToken || COMPOUND.has(op)) {
      sink.at(e, 'MC1001', 'assignment inside an expression', 'assign in its own statement');
      this.infer(e.left, undefined);
      this.infer(e.right, undefined);
      return ERROR;
    }
    if (op === ts.SyntaxKind.AmpersandAmpersandToken || op === ts.SyntaxKind.BarBarToken) {
      const l = this.infer(e.left, int('bool'), true);
      const { whenTrue, whenFalse } = conditionFacts(e.left, this.state.scope);
      const saved = this.state.facts;
      this.state.facts = union(saved, op === ts.SyntaxKind.AmpersandAmpersandToken ? whenTrue : whenFalse)!;
      const r = this.infer(e.right, int('bool'), true);
      this.state.facts = saved;
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
        this.state.program.types.set(isNull(e.left) ? e.left : e.right, NULL);
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
      this.calls.unordered([e.left, e.right]);
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
      this.calls.unordered([e.left, e.right]);
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
      this.state.sink.at(at, 'MC1017', `signed ${op === ts.SyntaxKind.SlashToken ? 'division' : 'remainder'} (${t.name})`,
        'BPF before CPU v4 (kernel 6.6) has no signed divide: use unsigned types');
      return undefined;
    }
    return t;
  }

  /** Reports an implicit conversion AssemblyScript would refuse. */
  assignable(from: Ty, to: Ty, at: ts.Node): void {
    if (from.kind === 'error' || to.kind === 'error') return;
    if (from.kind === 'int' && to.kind === 'int') {
      if (from.name === to.name) return;
      if (to.name === 'bool') {
        this.state.sink.at(at, 'MC1015', `conversion from ${from.name} to bool requires an explicit cast`, `write <bool>(x) or compare with 0`);
      } else if (INTS[from.name].size > INTS[to.name].size) {
        this.state.sink.at(at, 'MC1015', `conversion from ${from.name} to ${to.name} requires an explicit cast`, `write <${to.name}>(x) to truncate`);
      }
      return;
    }
    if (from.kind === 'class' && to.kind === 'class') {
      if (from.cls !== to.cls) this.state.sink.at(at, 'MC1015', `${from.cls.name} is not a ${to.cls.name}`, `pass a ${to.cls.name}`);
      else if (from.nullable && !to.nullable) this.state.sink.at(at, 'MC1007', `a ${from.cls.name} that may be null is passed on`, 'null-check it first');
      return;
    }
    this.state.sink.at(at, 'MC1015', `${typeName(from)} is not assignable to ${typeName(to)}`, `pass a ${typeName(to)}`);
  }
}
