// Statements: a function body walked statement by statement, with the null facts that hold after
// each one, the locals it declares, assignment targets, and the statements the subset refuses
// (while loops, labels, exceptions, nested declarations, `var`).
import ts from 'typescript';
import { COMPOUND } from '../syntax.ts';
import { ERROR, int, typeName, type Ty } from '../types.ts';
import type { ExpressionChecker } from './expressions.ts';
import { checkLoopBound, loopCounter } from './loop-bounds.ts';
import { conditionFacts, meet, union } from './null-facts.ts';
import type { CheckState, Facts, FunctionInfo, LocalVar } from './state.ts';

export class StatementChecker {
  constructor(private readonly state: CheckState, private readonly expr: ExpressionChecker) {}

  checkFunction(info: FunctionInfo): void {
    this.state.enter(info);
    const node = info.decl.node;
    for (const mod of ts.getModifiers(node) ?? []) {
      if (mod.kind === ts.SyntaxKind.AsyncKeyword) this.state.sink.at(mod, 'MC1001', 'async functions are not supported', 'remove async');
    }
    if (node.asteriskToken) this.state.sink.at(node, 'MC1001', 'generator functions are not supported', 'write a plain function');
    for (const p of info.decl.params) {
      const v = this.state.declare(p.name, p.type, p.node, { isConst: false });
      info.params.push(v);
    }
    if (!node.body) return;
    const end = this.block(node.body.statements, this.state.facts);
    if (end !== null && info.decl.ret.kind !== 'void' && info.decl.ret.kind !== 'error') {
      this.state.sink.at(node.name ?? node, 'MC1015', `function ${info.decl.name} can reach its end without returning a ${typeName(info.decl.ret)}`,
        'end every path with a return statement');
    }
  }

  private block(stmts: readonly ts.Statement[], facts: Facts): Facts {
    return this.state.withScope(() => {
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
    this.state.facts = facts;
    if (ts.isBlock(s)) return this.block(s.statements, facts);
    if (ts.isVariableStatement(s)) {
      this.variables(s.declarationList);
      return this.state.facts;
    }
    if (ts.isExpressionStatement(s)) {
      this.expressionStatement(s.expression);
      return this.state.facts;
    }
    if (ts.isIfStatement(s)) {
      this.expr.infer(s.expression, int('bool'), true);
      const { whenTrue, whenFalse } = conditionFacts(s.expression, this.state.scope);
      const thenEnd = this.state.withScope(() => this.statement(s.thenStatement, union(facts, whenTrue)));
      const elseEnd = s.elseStatement
        ? this.state.withScope(() => this.statement(s.elseStatement!, union(facts, whenFalse)))
        : union(facts, whenFalse);
      return meet(thenEnd, elseEnd);
    }
    if (ts.isReturnStatement(s)) {
      const ret = this.state.fn.decl.ret;
      if (s.expression) {
        if (ret.kind === 'void') {
          this.state.sink.at(s.expression, 'MC1015', `function ${this.state.fn.decl.name} returns void but this returns a value`, 'remove the value or declare a return type');
          this.expr.infer(s.expression, undefined);
        } else {
          const t = this.expr.infer(s.expression, ret);
          this.expr.assignable(t, ret, s.expression);
        }
      } else if (ret.kind !== 'void' && ret.kind !== 'error') {
        this.state.sink.at(s, 'MC1015', `return without a value in a function that returns ${typeName(ret)}`, 'return a value');
      }
      return null;
    }
    if (ts.isForStatement(s)) return this.forLoop(s, facts);
    if (ts.isWhileStatement(s) || ts.isDoStatement(s)) {
      this.state.sink.at(s, 'MC1002', `${ts.isWhileStatement(s) ? 'while' : 'do-while'} loop has no constant bound`,
        'write for (let i: u32 = 0; i < CONSTANT; i++) { ... if (done) break; }');
      this.expr.infer(s.expression, int('bool'), true);
      this.state.withScope(() => this.statement(s.statement, new Set(facts)));
      return facts;
    }
    if (ts.isForOfStatement(s) || ts.isForInStatement(s)) {
      this.state.sink.at(s, 'MC1002', `${ts.isForOfStatement(s) ? 'for...of' : 'for...in'} iterates over a heap object`,
        'write for (let i: u32 = 0; i < CONSTANT; i++) over map indexes');
      return facts;
    }
    if (ts.isBreakStatement(s) || ts.isContinueStatement(s)) {
      if (s.label) this.state.sink.at(s.label, 'MC1001', 'labelled break/continue is not supported', 'restructure the loop or use a flag');
      return null;
    }
    if (ts.isSwitchStatement(s)) return this.switchStatement(s, facts);
    if (ts.isEmptyStatement(s)) return facts;
    if (ts.isThrowStatement(s) || ts.isTryStatement(s)) {
      this.state.sink.at(s, 'MC1001', `${ts.isThrowStatement(s) ? 'throw' : 'try'} is not supported: BPF has no exceptions`,
        'return a verdict or reason code instead');
      // Already an error: treat it as leaving the function, to spare follow-on reports.
      return null;
    }
    if (ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s)) {
      this.state.sink.at(s, 'MC1004', `nested ${ts.isFunctionDeclaration(s) ? 'function' : 'class'} declaration`, 'declare it at module level');
      return facts;
    }
    this.state.sink.at(s, 'MC1001', `${ts.SyntaxKind[s.kind]} is not supported`, 'see docs/policy-subset.md for the statements the generator translates');
    return facts;
  }

  private variables(list: ts.VariableDeclarationList): void {
    const isConst = (list.flags & ts.NodeFlags.Const) !== 0;
    const isLet = (list.flags & ts.NodeFlags.Let) !== 0;
    if (!isConst && !isLet) {
      this.state.sink.at(list, 'MC1001', '`var` is function-scoped', 'use let or const');
    }
    for (const d of list.declarations) {
      if (!ts.isIdentifier(d.name)) {
        this.state.sink.at(d.name, 'MC1001', 'destructuring is not supported', 'declare one variable at a time');
        continue;
      }
      const name = d.name.text;
      const annotated = d.type ? this.state.decls.typeFrom(this.state.mod, d.type) : undefined;
      const init = d.initializer;
      if (init && this.expr.isStackalloc(init)) {
        const cls = this.expr.stackallocClass(init as ts.CallExpression);
        if (!isConst) this.state.sink.at(d, 'MC1016', `stackalloc for ${name} must initialise a const`, `write const ${name} = stackalloc<T>();`);
        if (cls) this.state.program.stackallocs.set(d, cls);
        const t: Ty = cls ? { kind: 'class', cls, nullable: false } : ERROR;
        if (annotated && cls) this.expr.assignable(t, annotated, init);
        this.state.declare(name, t, d, { isConst, stackalloc: true });
        continue;
      }
      const lookup = init ? this.expr.mapCall(init) : undefined;
      if (init && lookup?.method === 'lookup') {
        const t = this.expr.infer(init, annotated);
        if (!isConst) this.state.sink.at(d, 'MC1007', `map lookup result ${name} must be a const`, `write const ${name} = ${init.getText()}; then null-check it`);
        if (annotated && annotated.kind !== 'error' && !(annotated.kind === 'class' && annotated.nullable && t.kind === 'class' && annotated.cls === t.cls)) {
          this.state.sink.at(d.type!, 'MC1015', `a lookup of ${lookup.map.name} returns ${typeName(t)}, not ${typeName(annotated)}`, `annotate it as ${typeName(t)} or leave the type out`);
        }
        this.state.declare(name, t, d, { isConst, lookup: t.kind === 'class' });
        continue;
      }
      let t: Ty;
      if (init) {
        t = this.expr.infer(init, annotated);
        if (annotated) {
          this.expr.assignable(t, annotated, init);
          t = annotated;
        }
        if (t.kind === 'class' && !annotated) t = { ...t, nullable: false };
      } else if (annotated) {
        t = annotated;
        if (t.kind === 'class') {
          this.state.sink.at(d, 'MC1011', `${name} is a class instance without a value`, 'initialise it with stackalloc<T>(), a null-checked map lookup or a parameter');
        }
      } else {
        this.state.sink.at(d, 'MC1015', `${name} has neither a type nor a value`, `write let ${name}: u32 = 0;`);
        t = ERROR;
      }
      if (t.kind === 'null' || t.kind === 'void') {
        this.state.sink.at(d, 'MC1015', `${name} cannot hold ${t.kind}`, 'give it an integer value');
        t = ERROR;
      }
      if (t.kind === 'class' && t.nullable) {
        this.state.sink.at(d, 'MC1011', `${name} is nullable but not a map lookup result`, 'only `const x = map.lookup(key)` produces a nullable instance');
      }
      this.state.declare(name, t, d, { isConst });
    }
  }

  private expressionStatement(e: ts.Expression): void {
    if (ts.isBinaryExpression(e) && (e.operatorToken.kind === ts.SyntaxKind.EqualsToken || COMPOUND.has(e.operatorToken.kind))) {
      this.assignment(e);
      return;
    }
    if ((ts.isPrefixUnaryExpression(e) || ts.isPostfixUnaryExpression(e))
      && (e.operator === ts.SyntaxKind.PlusPlusToken || e.operator === ts.SyntaxKind.MinusMinusToken)) {
      const t = this.target(e.operand);
      if (t.kind !== 'int' && t.kind !== 'error') this.state.sink.at(e, 'MC1015', `${e.operator === ts.SyntaxKind.PlusPlusToken ? '++' : '--'} needs an integer`, 'apply it to an integer variable or field');
      this.state.program.types.set(e, t);
      return;
    }
    this.expr.infer(e, undefined);
  }

  private assignment(e: ts.BinaryExpression): void {
    const t = this.target(e.left);
    const op = COMPOUND.get(e.operatorToken.kind);
    if (op === undefined) {
      const v = this.expr.infer(e.right, t);
      this.expr.assignable(v, t, e.right);
    } else {
      if (t.kind !== 'int' && t.kind !== 'error') {
        this.state.sink.at(e, 'MC1015', `${e.operatorToken.getText()} needs an integer target, not ${typeName(t)}`, 'apply it to an integer variable or field');
      }
      const r = this.expr.infer(e.right, t);
      if (t.kind === 'int' && r.kind === 'int') {
        const common = this.expr.arithmeticType(op, t, r, e);
        if (common) this.expr.assignable(common, t, e.right);
      }
    }
    this.state.program.types.set(e, t);
  }

  /** The type of an assignment target, diagnosing targets that cannot be assigned. */
  private target(e: ts.Expression): Ty {
    if (ts.isParenthesizedExpression(e)) return this.target(e.expression);
    if (ts.isIdentifier(e)) {
      const v = this.state.scope.find(e.text);
      const t = this.expr.infer(e, undefined, true);
      if (!v) {
        if (t.kind !== 'error') this.state.sink.at(e, 'MC1015', `cannot assign to ${e.text}: it is not a local variable`, 'module-level values are constant; keep state in a map');
        return ERROR;
      }
      if (v.isConst) this.state.sink.at(e, 'MC1015', `cannot assign to const ${e.text}`, 'declare it with let');
      if (v.loopCounter) this.state.sink.at(e, 'MC1002', `loop counter ${e.text} is assigned inside its loop`, 'the bound is only guaranteed if the counter moves by the loop\'s own increment; use break');
      if (v.type.kind === 'class' && v.lookup) return ERROR;
      return v.type;
    }
    if (ts.isPropertyAccessExpression(e)) {
      const t = this.expr.infer(e, undefined);
      const base = this.baseLocal(e.expression);
      if (!base || !(base.stackalloc && this.state.fn.locals.includes(base))) this.state.fn.writes = true;
      return t;
    }
    this.state.sink.at(e, 'MC1001', `cannot assign to ${e.getText()}`, 'assign to a local variable or to a field of a class instance');
    this.expr.infer(e, undefined);
    return ERROR;
  }

  private baseLocal(e: ts.Expression): LocalVar | undefined {
    if (ts.isParenthesizedExpression(e)) return this.baseLocal(e.expression);
    return ts.isIdentifier(e) ? this.state.scope.find(e.text) : undefined;
  }

  private forLoop(s: ts.ForStatement, facts: Set<LocalVar>): Facts {
    return this.state.withScope(() => {
      let counter: LocalVar | undefined;
      const init = s.initializer;
      if (init && ts.isVariableDeclarationList(init)) {
        this.variables(init);
        counter = loopCounter(this.state, init);
      } else if (init) {
        this.expr.infer(init, undefined);
      }
      if (s.condition) this.expr.infer(s.condition, int('bool'), true);
      if (s.incrementor) this.expressionStatement(s.incrementor);
      checkLoopBound(this.state, s, counter);
      if (counter) counter.loopCounter = true;
      const whenTrue = s.condition ? conditionFacts(s.condition, this.state.scope).whenTrue : new Set<LocalVar>();
      this.state.withScope(() => this.statement(s.statement, union(facts, whenTrue)!));
      if (counter) counter.loopCounter = false;
      return facts;
    });
  }

  private switchStatement(s: ts.SwitchStatement, facts: Set<LocalVar>): Facts {
    const t = this.expr.infer(s.expression, undefined);
    if (t.kind !== 'int' && t.kind !== 'error') this.state.sink.at(s.expression, 'MC1015', `switch on ${typeName(t)}`, 'switch on an integer');
    const seen = new Map<bigint, ts.Node>();
    let lastEnd: Facts = facts;
    this.state.withScope(() => {
      for (const clause of s.caseBlock.clauses) {
        if (ts.isCaseClause(clause) && t.kind === 'int') {
          const ct = this.expr.infer(clause.expression, t);
          this.expr.assignable(ct, t, clause.expression);
          const v = this.state.decls.evaluate(this.state.mod, clause.expression, t.name, false);
          if (v === undefined) {
            this.state.sink.at(clause.expression, 'MC1021', `case ${clause.expression.getText()} is not a compile-time constant`, 'C case labels are constants: use literals or module constants, or an if chain');
          } else if (seen.has(v)) {
            this.state.sink.at(clause.expression, 'MC1015', `duplicate case value ${v}`, 'remove one of the cases');
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
    // Control leaves a switch by a break, by falling off its last clause, or (without default)
    // when no case matches.
    const hasDefault = s.caseBlock.clauses.some((c) => ts.isDefaultClause(c));
    if (hasDefault && lastEnd === null && !breaksOut(s.caseBlock)) return null;
    return facts;
  }
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
