// Lazy inputs: which parameters of the generated C hold one of `decide`'s inputs (its integer
// parameters: in meshc's policy the client's identity, a random number and the clock) unchanged,
// so the C can read the input where the policy reads it instead of the hook calling a helper for
// each one before every decision. A parameter holds input I when every call of its function
// passes, at its position, a parameter of the caller that holds I (decide's own input parameters
// hold themselves) and the function never assigns it. Such a parameter leaves the C signature;
// its reads become `mc_input_<I>(mc_in)`, which reads the input once (the hook's helper, or the
// value a caller such as the test harness filled in) and keeps it for later reads. A function
// that reads one, or calls one that does, takes `struct mc_inputs *mc_in` first.
import ts from 'typescript';
import type { FunctionInfo, LocalVar } from './check/index.ts';
import type { CheckedProgram } from './check/index.ts';

export interface LazyInputs {
  /** The entry module's `decide`. */
  entry: FunctionInfo;
  /** `decide`'s integer parameters, in order. */
  inputs: LocalVar[];
  /** Every parameter that holds an input, with the input it holds. */
  holds: Map<LocalVar, LocalVar>;
  /** Functions that take `mc_in`. */
  needsIn: Set<FunctionInfo>;
}

/** Whether `f`'s body assigns (or increments) its parameter `p`. */
function assigns(checked: CheckedProgram, f: FunctionInfo, p: LocalVar): boolean {
  let found = false;
  const refersToP = (e: ts.Expression): boolean => {
    const inner = ts.isParenthesizedExpression(e) ? e.expression : e;
    if (!ts.isIdentifier(inner)) return false;
    const ref = checked.refs.get(inner);
    return ref?.kind === 'local' && ref.v === p;
  };
  const visit = (n: ts.Node): void => {
    if (found) return;
    if (ts.isBinaryExpression(n) && n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && n.operatorToken.kind <= ts.SyntaxKind.LastAssignment && refersToP(n.left)) found = true;
    if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) &&
      (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken) && refersToP(n.operand)) found = true;
    ts.forEachChild(n, visit);
  };
  if (f.decl.node.body) visit(f.decl.node.body);
  return found;
}

/**
 * The lazy inputs of `functions` (callees before callers) for the entry `decide`; undefined when
 * there is no entry or it has no integer parameter.
 */
export function lazyInputs(checked: CheckedProgram, functions: FunctionInfo[], entry: FunctionInfo | undefined): LazyInputs | undefined {
  if (!entry) return undefined;
  const inputs = entry.params.filter((p) => p.type.kind === 'int');
  if (inputs.length === 0) return undefined;
  const holds = new Map<LocalVar, LocalVar>();
  for (const p of inputs) if (!assigns(checked, entry, p)) holds.set(p, p);
  const callers = new Map<FunctionInfo, Array<{ caller: FunctionInfo; node: ts.CallExpression }>>();
  for (const f of functions) {
    for (const c of f.calls) {
      const list = callers.get(c.callee) ?? [];
      list.push({ caller: f, node: c.node });
      callers.set(c.callee, list);
    }
  }
  const heldBy = (caller: FunctionInfo, arg: ts.Expression | undefined): LocalVar | undefined => {
    if (!arg) return undefined;
    const inner = ts.isParenthesizedExpression(arg) ? arg.expression : arg;
    if (!ts.isIdentifier(inner)) return undefined;
    const ref = checked.refs.get(inner);
    if (ref?.kind !== 'local' || !caller.params.includes(ref.v)) return undefined;
    return holds.get(ref.v);
  };
  // Callers first: every call site of a function is decided before the function itself.
  for (const f of [...functions].reverse()) {
    if (f === entry) continue;
    const sites = callers.get(f) ?? [];
    if (sites.length === 0) continue;
    f.params.forEach((p, i) => {
      if (p.type.kind !== 'int' || assigns(checked, f, p)) return;
      let input: LocalVar | undefined;
      for (const s of sites) {
        const held = heldBy(s.caller, s.node.arguments[i]);
        if (!held || (input && held !== input)) return;
        input = held;
      }
      if (input) holds.set(p, input);
    });
  }
  const needsIn = new Set<FunctionInfo>();
  for (const f of functions) {
    if (f.params.some((p) => holds.has(p)) || f.calls.some((c) => needsIn.has(c.callee))) needsIn.add(f);
  }
  return { entry, inputs, holds, needsIn };
}
