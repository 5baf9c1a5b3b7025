// Null facts: which map lookup results are known to be non-null at a point of a function, from
// the conditions that guard it (`if (x == null) return`, `x != null && ...`, `!x`), and how the
// facts of two paths join.
import ts from 'typescript';
import { EQUALITY, parentOutsideParens } from '../syntax.ts';
import type { Facts, LocalVar, Scope } from './state.ts';

/** The lookup results known non-null when `cond` is true, and when it is false. */
export function conditionFacts(cond: ts.Expression, scope: Scope): { whenTrue: Set<LocalVar>; whenFalse: Set<LocalVar> } {
  const none = { whenTrue: new Set<LocalVar>(), whenFalse: new Set<LocalVar>() };
  if (ts.isParenthesizedExpression(cond)) return conditionFacts(cond.expression, scope);
  if (ts.isPrefixUnaryExpression(cond) && cond.operator === ts.SyntaxKind.ExclamationToken) {
    const inner = conditionFacts(cond.operand, scope);
    return { whenTrue: inner.whenFalse, whenFalse: inner.whenTrue };
  }
  const lookupVar = (x: ts.Expression): LocalVar | undefined => {
    while (ts.isParenthesizedExpression(x)) x = x.expression;
    const v = ts.isIdentifier(x) ? scope.find(x.text) : undefined;
    return v?.lookup ? v : undefined;
  };
  const v = lookupVar(cond);
  if (v) return { whenTrue: new Set([v]), whenFalse: new Set() };
  if (!ts.isBinaryExpression(cond)) return none;
  const op = cond.operatorToken.kind;
  if (op === ts.SyntaxKind.AmpersandAmpersandToken) {
    const l = conditionFacts(cond.left, scope);
    const r = conditionFacts(cond.right, scope);
    return { whenTrue: new Set([...l.whenTrue, ...r.whenTrue]), whenFalse: new Set() };
  }
  if (op === ts.SyntaxKind.BarBarToken) {
    const l = conditionFacts(cond.left, scope);
    const r = conditionFacts(cond.right, scope);
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

/** `x == null` / `x != null`: comparing a lookup result with null is its check, not a use. */
export function inNullComparison(e: ts.Node): boolean {
  const p = parentOutsideParens(e);
  return ts.isBinaryExpression(p) && EQUALITY.has(p.operatorToken.kind)
    && (p.left.kind === ts.SyntaxKind.NullKeyword || p.right.kind === ts.SyntaxKind.NullKeyword);
}

/** The facts of `a` and of `b` together. */
export function union(a: Set<LocalVar>, b: Set<LocalVar>): Set<LocalVar> {
  return new Set([...a, ...b]);
}

/** Facts at a join: what holds on every path that gets there. */
export function meet(a: Facts, b: Facts): Facts {
  if (a === null) return b;
  if (b === null) return a;
  return new Set([...a].filter((v) => b.has(v)));
}
