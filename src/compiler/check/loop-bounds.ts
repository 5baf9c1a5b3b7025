// Loop bounds: a `for` loop is translated only when its counter provably stops, that is it starts
// at a constant, is compared with a constant (`i < BOUND`, `i <= BOUND`, `BOUND > i`), moves by a
// positive constant step, and cannot wrap around before it fails the bound.
import ts from 'typescript';
import { INTS, type Ty } from '../types.ts';
import type { CheckState, LocalVar } from './state.ts';

/** The counter a `for` initializer declares: one `let` with a constant initial value. */
export function loopCounter(state: CheckState, init: ts.VariableDeclarationList): LocalVar | undefined {
  const d = init.declarations[0];
  const counter = d && init.declarations.length === 1 && (init.flags & ts.NodeFlags.Let) ? state.program.locals.get(d) : undefined;
  if (counter && d.initializer && counter.type.kind === 'int'
    && state.decls.evaluate(state.mod, d.initializer, counter.type.name, false) === undefined) return undefined;
  return counter;
}

/** Reports the loop `s` (counter `counter`, if it has one) when it has no constant bound. */
export function checkLoopBound(state: CheckState, s: ts.ForStatement, counter: LocalVar | undefined): void {
  const last = counter && s.condition ? bound(state, s.condition, counter) : undefined;
  const step = counter && s.incrementor ? stepOf(state, s.incrementor, counter) : undefined;
  if (last !== undefined && step !== undefined && counter?.type.kind === 'int') {
    // The counter must not wrap before it fails the bound (i <= 255 on a u8 never does).
    const info = INTS[counter.type.name];
    const max = info.signed ? (1n << BigInt(info.size * 8 - 1)) - 1n : (1n << BigInt(info.size * 8)) - 1n;
    if (last + step > max) {
      state.sink.at(s.condition!, 'MC1002', `the ${counter.type.name} counter ${counter.name} wraps around before it reaches the bound`,
        'use a wider counter type or a lower bound');
    }
  }
  if (last === undefined || step === undefined) {
    state.sink.at(s, 'MC1002', 'for loop has no constant bound',
      'write for (let i: u32 = 0; i < CONSTANT; i++) with a literal or constant bound; leave early with break');
  }
}

/**
 * `i < BOUND`, `i <= BOUND` (or `BOUND > i`), possibly `&&`-ed with more conditions: the
 * largest value the counter may take inside the loop, or undefined.
 */
function bound(state: CheckState, cond: ts.Expression, counter: LocalVar): bigint | undefined {
  if (ts.isParenthesizedExpression(cond)) return bound(state, cond.expression, counter);
  if (!ts.isBinaryExpression(cond) || counter.type.kind !== 'int') return undefined;
  const op = cond.operatorToken.kind;
  if (op === ts.SyntaxKind.AmpersandAmpersandToken) {
    const l = bound(state, cond.left, counter);
    const r = bound(state, cond.right, counter);
    return l === undefined ? r : r === undefined ? l : l < r ? l : r;
  }
  const isCounter = (x: ts.Expression) => ts.isIdentifier(x) && state.scope.find(x.text) === counter;
  // Evaluated wide, so that a bound past the counter's type shows rather than wraps.
  const value = (x: ts.Expression) => state.decls.evaluate(state.mod, x, INTS[(counter.type as Ty & { kind: 'int' }).name].signed ? 'i64' : 'u64', false);
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
function stepOf(state: CheckState, inc: ts.Expression, counter: LocalVar): bigint | undefined {
  const isCounter = (x: ts.Expression) => ts.isIdentifier(x) && state.scope.find(x.text) === counter;
  if ((ts.isPostfixUnaryExpression(inc) || ts.isPrefixUnaryExpression(inc)) && inc.operator === ts.SyntaxKind.PlusPlusToken) {
    return isCounter(inc.operand) ? 1n : undefined;
  }
  if (ts.isBinaryExpression(inc) && inc.operatorToken.kind === ts.SyntaxKind.PlusEqualsToken && isCounter(inc.left) && counter.type.kind === 'int') {
    const step = state.decls.evaluate(state.mod, inc.right, counter.type.name, false);
    return step !== undefined && step > 0n ? step : undefined;
  }
  return undefined;
}
