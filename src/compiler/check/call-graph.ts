// The call graph: which functions are reachable (each checked once, in discovery order), and the
// checks over the whole graph once every body is walked: recursion, which functions write memory
// the caller sees, and operands that C evaluates in an order it does not fix.
import ts from 'typescript';
import type { SourceModule } from '../read.ts';
import type { CheckState, FunctionInfo } from './state.ts';

export class CallGraph {
  private readonly infos = new Map<ts.FunctionDeclaration, FunctionInfo>();
  private readonly queue: FunctionInfo[] = [];
  /** Groups of operands that C evaluates in unspecified order, checked once purity is known. */
  private readonly unsequenced: Array<{ fn: FunctionInfo; operands: ts.Expression[] }> = [];

  constructor(private readonly state: CheckState) {}

  /** The function declared by `node`, queued to be checked the first time it is reached. */
  functionInfo(mod: SourceModule, node: ts.FunctionDeclaration): FunctionInfo {
    let info = this.infos.get(node);
    if (info) return info;
    const decl = this.state.decls.functionOf(mod, node);
    info = { decl, params: [], locals: [], calls: [], writes: false, impure: false };
    this.infos.set(node, info);
    this.state.program.functions.push(info);
    this.queue.push(info);
    return info;
  }

  /** The next reached function whose body has not been checked. */
  next(): FunctionInfo | undefined {
    return this.queue.shift();
  }

  /** `operands` of the current function are evaluated in an order C leaves open. */
  unordered(operands: readonly ts.Expression[]): void {
    this.unsequenced.push({ fn: this.state.fn, operands: [...operands] });
  }

  /** The whole-graph checks, once every reachable body has been walked. */
  finish(): void {
    this.findRecursion();
    this.computePurity();
    for (const group of this.unsequenced) this.checkOrder(group.fn, group.operands);
  }

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
          this.state.sink.at(node, 'MC1003', message, 'BPF has no recursion and a 512-byte stack: rewrite it as a loop with a constant bound');
        } else if (s === undefined) visit(callee);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of this.state.program.functions) if (!state.has(f)) visit(f);
  }

  private computePurity(): void {
    const functions = this.state.program.functions;
    for (const f of functions) f.impure = f.writes;
    let changed = true;
    while (changed) {
      changed = false;
      for (const f of functions) {
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
        this.state.sink.at(operands[i], 'MC1018',
          `the call to ${writer} writes memory, and ${operands[j].getText()} is evaluated in an order C does not fix`,
          `bind the call's result to a const in a statement before (in ${fn.decl.name})`);
        return;
      }
    }
  }

  private effects(e: ts.Node): { writer: string | undefined; reads: boolean } {
    const { calls, mapCalls } = this.state.program;
    let writer: string | undefined;
    let reads = false;
    const walk = (n: ts.Node): void => {
      if (ts.isCallExpression(n)) {
        reads = true;
        const f = calls.get(n);
        if (f?.impure && writer === undefined) writer = f.decl.name;
        const m = mapCalls.get(n);
        if (m && m.method !== 'lookup' && writer === undefined) writer = `${m.map.name}.${m.method}`;
      }
      if (ts.isPropertyAccessExpression(n)) reads = true;
      ts.forEachChild(n, walk);
    };
    walk(e);
    return { writer, reads };
  }
}
