// Phase 4, emit: a visitor over the checked, lowered program that appends C to a string[].
// Integer semantics follow WebAssembly's (docs/policy-subset.md, "Integer semantics"): small
// types wrap after arithmetic, shift counts are masked, division is guarded, signed arithmetic
// goes through unsigned C arithmetic.
import ts from 'typescript';
import type { FunctionInfo, LocalVar } from './check/index.ts';
import { ARITHMETIC, COMPOUND, SHIFTS, literalValue, unparen } from './syntax.ts';
import { structName, type LoweredProgram } from './lower.ts';
import { INTS, type ClassDecl, type ConstDecl, type IntName, type MapDecl, type Ty } from './types.ts';
import { lazyInputs, type LazyInputs } from './inputs.ts';

const MAP_TYPES: Record<MapDecl['kind'], string> = {
  HashMap: 'BPF_MAP_TYPE_HASH',
  LruHashMap: 'BPF_MAP_TYPE_LRU_HASH',
  ArrayMap: 'BPF_MAP_TYPE_ARRAY',
};

const OPERATOR_TEXT: Partial<Record<ts.SyntaxKind, string>> = {
  [ts.SyntaxKind.PlusToken]: '+', [ts.SyntaxKind.MinusToken]: '-', [ts.SyntaxKind.AsteriskToken]: '*',
  [ts.SyntaxKind.SlashToken]: '/', [ts.SyntaxKind.PercentToken]: '%', [ts.SyntaxKind.AmpersandToken]: '&',
  [ts.SyntaxKind.BarToken]: '|', [ts.SyntaxKind.CaretToken]: '^', [ts.SyntaxKind.LessThanLessThanToken]: '<<',
  [ts.SyntaxKind.GreaterThanGreaterThanToken]: '>>', [ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken]: '>>',
  [ts.SyntaxKind.LessThanToken]: '<', [ts.SyntaxKind.LessThanEqualsToken]: '<=', [ts.SyntaxKind.GreaterThanToken]: '>',
  [ts.SyntaxKind.GreaterThanEqualsToken]: '>=', [ts.SyntaxKind.EqualsEqualsToken]: '==', [ts.SyntaxKind.EqualsEqualsEqualsToken]: '==',
  [ts.SyntaxKind.ExclamationEqualsToken]: '!=', [ts.SyntaxKind.ExclamationEqualsEqualsToken]: '!=',
  [ts.SyntaxKind.AmpersandAmpersandToken]: '&&', [ts.SyntaxKind.BarBarToken]: '||',
};

/**
 * C precedence levels, loosest first (C11 6.5): an operand is parenthesized when its level is
 * below the level its position needs. `Postfix` also covers names, literals and calls.
 */
const Level = {
  Comma: 0, Assign: 1, Conditional: 2, LogicalOr: 3, LogicalAnd: 4, BitOr: 5, BitXor: 6, BitAnd: 7,
  Equality: 8, Relational: 9, Shift: 10, Additive: 11, Multiplicative: 12, Unary: 13, Postfix: 14,
} as const;
type Level = (typeof Level)[keyof typeof Level];

const BINARY_LEVEL: Readonly<Record<string, Level>> = {
  '*': Level.Multiplicative, '/': Level.Multiplicative, '%': Level.Multiplicative,
  '+': Level.Additive, '-': Level.Additive, '<<': Level.Shift, '>>': Level.Shift,
  '<': Level.Relational, '<=': Level.Relational, '>': Level.Relational, '>=': Level.Relational,
  '==': Level.Equality, '!=': Level.Equality, '&': Level.BitAnd, '^': Level.BitXor, '|': Level.BitOr,
  '&&': Level.LogicalAnd, '||': Level.LogicalOr,
};

/**
 * A C expression: its text, the precedence level and operator at its top, and whether its C
 * type is exactly the C type of its AssemblyScript type.
 */
interface CExpr {
  text: string;
  level: Level;
  /** A binary operator's C text, or `neg`, `pos`, `!`, `~`, `cast` for unary ones; none for primaries. */
  op?: string;
  exact: boolean;
}

function primary(text: string, exact = true): CExpr {
  return { text, level: Level.Postfix, exact };
}

/** `x` in a position that needs at least `level`. */
function operand(x: CExpr, level: Level): string {
  return x.level < level ? `(${x.text})` : x.text;
}

function isComparison(level: Level): boolean {
  return level === Level.Equality || level === Level.Relational;
}

function isBitwise(level: Level): boolean {
  return level === Level.BitAnd || level === Level.BitXor || level === Level.BitOr;
}

/**
 * Parentheses that C does not need but that compilers' -Wparentheses and readers ask for: `&&`
 * in `||`; a bitwise operator in a logical one; any other binary operator in a bitwise one;
 * arithmetic in a shift; a comparison in a comparison; `!x` as the left operand of a comparison
 * or a bitwise operator.
 */
function clarifies(x: CExpr, parent: Level, left: boolean): boolean {
  if (x.op === '!') return left && (isComparison(parent) || isBitwise(parent));
  if (x.op === undefined || !(x.op in BINARY_LEVEL)) return false;
  if (parent === Level.LogicalOr && x.op === '&&') return true;
  if (parent === Level.LogicalOr || parent === Level.LogicalAnd) return isBitwise(x.level);
  if (isBitwise(parent)) return x.level !== parent && x.level > Level.LogicalAnd;
  if (parent === Level.Shift) return x.level === Level.Additive || x.level === Level.Multiplicative;
  if (isComparison(parent)) return isComparison(x.level);
  return false;
}

/** `l op r` for a left-associative binary C operator. */
function binaryOp(l: CExpr, op: string, r: CExpr): CExpr {
  const level = BINARY_LEVEL[op] ?? Level.Comma;
  const side = (x: CExpr, need: number, left: boolean) => (x.level < need || clarifies(x, level, left) ? `(${x.text})` : x.text);
  return { text: `${side(l, level, true)} ${op} ${side(r, level + 1, false)}`, level, op, exact: true };
}

function unary(op: '!' | '~' | '-' | '+', x: CExpr, exact = true): CExpr {
  const tag = op === '-' ? 'neg' : op === '+' ? 'pos' : op;
  // `- -x` must not become `--x`.
  const inner = tag === x.op ? `(${x.text})` : operand(x, Level.Unary);
  return { text: `${op}${inner}`, level: Level.Unary, op: tag, exact };
}

function castTo(c: string, x: CExpr): CExpr {
  return { text: `(${c})${operand(x, Level.Unary)}`, level: Level.Unary, op: 'cast', exact: true };
}

function conditional(cond: CExpr, a: CExpr, b: CExpr, exact = true): CExpr {
  // Arithmetic or bitwise conditions are bracketed, as -Wparentheses asks.
  const bracket = cond.level <= Level.Conditional
    || (cond.op !== undefined && cond.op in BINARY_LEVEL && cond.level >= Level.BitOr && !isComparison(cond.level));
  const c = bracket ? `(${cond.text})` : cond.text;
  return { text: `${c} ? ${operand(a, Level.Assign)} : ${operand(b, Level.Conditional)}`, level: Level.Conditional, exact };
}

export interface EmitOptions {
  /** Input paths for the banner, relative to the base directory. */
  inputs: string[];
}

/** C text of a C type for an AssemblyScript type. */
function cType(t: Ty): string {
  if (t.kind === 'int') return INTS[t.name].c;
  if (t.kind === 'class') return `struct ${structName(t.cls)} *`;
  if (t.kind === 'void') return 'void';
  return '/* error */ int';
}

function declare(t: Ty, name: string): string {
  const c = cType(t);
  return c.endsWith('*') ? `${c}${name}` : `${c} ${name}`;
}

function unsignedOf(name: IntName): string {
  return INTS[name].size === 8 ? '__u64' : '__u32';
}

/** A comment's text made safe inside C's block comment. */
function commentText(s: string): string {
  return s.replace(/\*\//g, '* /');
}

/** `/** doc *\/` or `// doc` lines above a declaration, as C comments. */
function docLines(doc: string): string[] {
  if (!doc) return [];
  const out: string[] = [];
  const lineComments: string[] = [];
  const flush = () => {
    if (lineComments.length === 1) out.push(`/* ${commentText(lineComments[0])} */`);
    else if (lineComments.length > 1) out.push('/*', ...lineComments.map((l) => ` * ${commentText(l)}`.trimEnd()), ' */');
    lineComments.length = 0;
  };
  for (const part of doc.split('\n')) {
    const t = part.trim();
    if (t.startsWith('//')) lineComments.push(t.slice(2).trim());
    else {
      flush();
      out.push(t.startsWith('*') ? ` ${t}` : t);
    }
  }
  flush();
  return out;
}

export function emit(program: LoweredProgram, options: EmitOptions): string {
  const out: string[] = [];
  out.push(`/* DO NOT EDIT: generated by meshc's policy generator (src/compiler) from ${options.inputs.join(', ')} */`);
  out.push('#ifndef MESHC_POLICY_GENERATED_H');
  out.push('#define MESHC_POLICY_GENERATED_H');
  out.push('');
  out.push('#ifndef __VMLINUX_H__');
  out.push('#include <linux/types.h>');
  out.push('#include <linux/bpf.h>');
  out.push('#endif');
  out.push('#include <bpf/bpf_helpers.h>');
  // The entry module's decide (a root), not another module's `decide` it may call.
  const entry = program.checked.roots.find((f) => f.decl.name === 'decide');
  const lazy = lazyInputs(program.checked, program.functions, entry);
  const emitter = new Emitter(program, out, lazy);

  let lastModule = '';
  for (const c of program.consts) {
    if (c.module.rel !== lastModule) {
      out.push('', `/* Constants: ${c.module.rel} */`);
      lastModule = c.module.rel;
    }
    emitter.constant(c);
  }
  lastModule = '';
  for (const cls of program.classes) {
    if (cls.module.rel !== lastModule) {
      out.push('', `/* Layouts: ${cls.module.rel} */`);
      lastModule = cls.module.rel;
    }
    out.push('');
    emitter.struct(cls);
  }
  lastModule = '';
  for (const m of program.maps) {
    if (m.module.rel !== lastModule) {
      out.push('', `/* Maps: ${m.module.rel} */`);
      lastModule = m.module.rel;
    }
    out.push('');
    emitter.map(m);
  }
  if (lazy) emitter.inputs(lazy);
  if (program.functions.length > 0) out.push('', '/* Functions, callees first */');
  for (const f of program.functions) {
    out.push('');
    emitter.func(f);
    if (f === entry && lazy?.needsIn.has(f)) {
      out.push('');
      emitter.valueEntry(f, lazy);
    }
  }
  const prologue = entry ? serviceLookupPrologue(entry) : undefined;
  if (entry && prologue) {
    out.push('');
    emitter.funcAfterLookup(entry, prologue);
  }
  out.push('', '#endif /* MESHC_POLICY_GENERATED_H */', '');
  return out.join('\n');
}

class Emitter {
  private depth = 0;

  constructor(private readonly program: LoweredProgram, private readonly out: string[], private readonly lazy?: LazyInputs) {}

  private line(text: string): void {
    this.out.push(text === '' ? '' : '\t'.repeat(this.depth) + text);
  }

  private indent(body: () => void): void {
    this.depth++;
    body();
    this.depth--;
  }

  // ---- module-level declarations ----

  constant(c: ConstDecl): void {
    const value = this.constExpr(c);
    const comment = c.comment ? ` /* ${commentText(c.comment)} */` : '';
    if (/^MAX_/.test(c.name)) {
      this.line(`#ifndef ${c.name}`);
      this.line(`#define ${c.name} ${value}${comment}`);
      this.line('#endif');
    } else {
      this.line(`#define ${c.name} ${value}${comment}`);
    }
  }

  /** A constant's value: its expression, typed as the constant, with literals suffixed; in
   * parentheses unless primary, since it becomes a macro. */
  private constExpr(c: ConstDecl): string {
    const init = unparen(c.init);
    if (init.kind === ts.SyntaxKind.TrueKeyword) return '1';
    if (init.kind === ts.SyntaxKind.FalseKeyword) return '0';
    return operand(this.constantExpression(c.init, c.type, c), Level.Postfix);
  }

  /** Module-level constant expressions: identifiers name other constants (macros). */
  private constantExpression(e: ts.Expression, type: IntName, c: ConstDecl): CExpr {
    const x = unparen(e);
    if (literalValue(x) !== undefined) return literal(x, type, true);
    if (ts.isIdentifier(x)) return primary(x.text);
    if (ts.isPrefixUnaryExpression(x)) {
      const op = x.operator === ts.SyntaxKind.TildeToken ? '~' : x.operator === ts.SyntaxKind.ExclamationToken ? '!' : x.operator === ts.SyntaxKind.MinusToken ? '-' : '+';
      return unary(op, this.constantExpression(x.operand, type, c));
    }
    if (ts.isTypeAssertionExpression(x) || ts.isAsExpression(x)) {
      const t = x.type.getText() as IntName;
      return castTo(INTS[t]?.c ?? '__u32', this.constantExpression(x.expression, t, c));
    }
    if (ts.isBinaryExpression(x)) {
      const op = OPERATOR_TEXT[x.operatorToken.kind] ?? x.operatorToken.getText();
      return binaryOp(this.constantExpression(x.left, type, c), op, this.constantExpression(x.right, type, c));
    }
    // Not constant: already diagnosed; emit its value if known so the output stays valid C.
    const v = c.value ?? 0n;
    return v < 0n ? { text: String(v), level: Level.Unary, op: 'neg', exact: true } : primary(String(v));
  }

  struct(cls: ClassDecl): void {
    for (const l of docLines(cls.doc)) this.line(l);
    const name = structName(cls);
    this.line(`struct ${name} {`);
    // An array's elements are one member, described by its first element's comment.
    const members = cls.fields.filter((f) => !f.element || f.element.index === 0);
    const decls = members.map((f) => `${INTS[f.type].c} ${f.element ? `${f.element.array}[${f.element.count}]` : f.name};`);
    const width = Math.max(...decls.map((d) => d.length));
    this.indent(() => {
      members.forEach((f, i) => {
        const comment = f.comment ? `${' '.repeat(width - decls[i].length)} /* ${commentText(f.comment)} */` : '';
        this.line(`${decls[i]}${comment}`);
      });
    });
    this.line('};');
    this.line(`_Static_assert(sizeof(struct ${name}) == ${cls.size}, "struct ${name}: ${cls.size} bytes, as laid out in ${cls.module.rel}");`);
  }

  map(m: MapDecl): void {
    this.line('struct {');
    this.indent(() => {
      this.line(`__uint(type, ${MAP_TYPES[m.kind]});`);
      this.line(`__type(key, ${m.key ? `struct ${structName(m.key)}` : '__u32'});`);
      this.line(`__type(value, struct ${structName(m.value)});`);
      const max = unparen(m.maxEntries);
      const maxText = ts.isIdentifier(max) ? max.text : String(m.maxEntriesValue ?? 1n);
      this.line(`__uint(max_entries, ${maxText});`);
      this.line('__uint(pinning, LIBBPF_PIN_BY_NAME);');
    });
    this.line(`} ${m.name} SEC(".maps"); /* Wasm map id ${m.wasmId} */`);
  }

  // ---- functions and statements ----

  func(f: FunctionInfo): void {
    for (const l of docLines(f.decl.doc)) this.line(l);
    const list = this.paramList(f);
    const params = list.length === 0 ? 'void' : list.join(', ');
    this.line(`static __always_inline ${cType(f.decl.ret)} ${this.cName(f)}(${params})`);
    this.line('{');
    this.indent(() => {
      for (const s of f.decl.node.body?.statements ?? []) this.statement(s);
    });
    this.line('}');
  }

  /**
   * `decide` without its opening service lookup, the service found passed in: the hooks look the
   * key up first and leave a connection to anything else at one lookup, with no helper called.
   */
  funcAfterLookup(f: FunctionInfo, svc: LocalVar): void {
    const name = `${this.program.functionName.get(f)}_found`;
    this.line(`/* ${this.program.functionName.get(f)} after its lookup of mc_services: \`${this.local(svc)}\` is the key's service, found. */`);
    this.line(`#define MC_DECIDE_FOUND ${name}`);
    const params = [declare(svc.type, this.local(svc)), ...this.paramList(f)].join(', ');
    this.line(`static __always_inline ${cType(f.decl.ret)} ${name}(${params})`);
    this.line('{');
    this.indent(() => {
      for (const s of (f.decl.node.body?.statements ?? []).slice(2)) this.statement(s);
    });
    this.line('}');
  }

  private local(v: LocalVar): string {
    return this.program.localName.get(v) ?? v.name;
  }

  /** A function's C name: the entry that takes `mc_in` is `<name>_in`, its value form keeps the name. */
  private cName(f: FunctionInfo): string {
    const name = this.program.functionName.get(f)!;
    return f === this.lazy?.entry && this.lazy.needsIn.has(f) ? `${name}_in` : name;
  }

  /** C parameters: `mc_in` first when the function takes it, without the parameters that hold inputs. */
  private paramList(f: FunctionInfo): string[] {
    const params = f.params.filter((p) => !this.lazy?.holds.has(p)).map((p) => declare(p.type, this.local(p)));
    return this.lazy?.needsIn.has(f) ? ['struct mc_inputs *mc_in', ...params] : params;
  }

  /** `struct mc_inputs`, its bits, the readers' defaults and one accessor per input. */
  inputs(lazy: LazyInputs): void {
    const names = lazy.inputs.map((p) => this.local(p));
    this.line('');
    this.line('/*');
    this.line(` * decide's inputs (${names.join(', ')}), read where the policy reads them (src/compiler/inputs.ts).`);
    this.line(' * `read` has an input\'s bit once its field holds the value: a caller fills fields in and');
    this.line(' * sets their bits (mc_decide, the test harness), or leaves an input to MC_READ_INPUT<i>(ctx),');
    this.line(' * which the hooks define before this header (a helper call each, made only on a path that');
    this.line(' * reads the input, once). Without a reader the accessor returns the field as it is.');
    this.line(' */');
    this.line(`#define MC_INPUT_COUNT ${names.length}`);
    this.line('struct mc_inputs {');
    this.indent(() => {
      this.line('void *ctx;');
      for (const p of lazy.inputs) this.line(`${declare(p.type, this.local(p))};`);
      this.line('__u32 read;');
    });
    this.line('};');
    lazy.inputs.forEach((p, i) => this.line(`#define MC_INPUT_${this.local(p).toUpperCase()} (1u << ${i})`));
    this.line(`#define MC_INPUTS_ALL ${(2 ** names.length - 1).toString()}u`);
    lazy.inputs.forEach((p, i) => {
      const name = this.local(p);
      const bit = `MC_INPUT_${name.toUpperCase()}`;
      this.line('');
      this.line(`#ifndef MC_READ_INPUT${i}`);
      this.line(`#define MC_READ_INPUT${i}(ctx, value) (value)`);
      this.line('#endif');
      this.line(`static __always_inline ${cType(p.type)} mc_input_${name}(struct mc_inputs *in)`);
      this.line('{');
      this.indent(() => {
        this.line(`if (!(in->read & ${bit})) {`);
        this.indent(() => {
          this.line(`in->${name} = MC_READ_INPUT${i}(in->ctx, in->${name});`);
          this.line(`in->read |= ${bit};`);
        });
        this.line('}');
        this.line(`return in->${name};`);
      });
      this.line('}');
    });
  }

  /** The entry with its inputs as values (the test harness, tools): every input given, none read. */
  valueEntry(f: FunctionInfo, lazy: LazyInputs): void {
    const name = this.program.functionName.get(f)!;
    this.line(`/* ${name}_in with its inputs given as values. */`);
    const params = f.params.map((p) => declare(p.type, this.local(p))).join(', ');
    this.line(`static __always_inline ${cType(f.decl.ret)} ${name}(${params})`);
    this.line('{');
    this.indent(() => {
      this.line('struct mc_inputs in = {};');
      for (const p of lazy.inputs) this.line(`in.${this.local(p)} = ${this.local(p)};`);
      this.line('in.read = MC_INPUTS_ALL;');
      const args = ['&in', ...f.params.filter((p) => !lazy.holds.has(p)).map((p) => this.local(p))];
      this.line(`return ${name}_in(${args.join(', ')});`);
    });
    this.line('}');
  }

  private leadingComments(s: ts.Statement): void {
    const sf = s.getSourceFile();
    for (const r of ts.getLeadingCommentRanges(sf.text, s.getFullStart()) ?? []) {
      const raw = sf.text.slice(r.pos, r.end);
      if (r.kind === ts.SyntaxKind.SingleLineCommentTrivia) this.line(`/* ${commentText(raw.slice(2).trim())} */`);
      else for (const l of raw.split('\n')) this.line(l.trim().startsWith('*') ? ` ${l.trim()}` : l.trim());
    }
  }

  private statement(s: ts.Statement): void {
    this.leadingComments(s);
    if (ts.isBlock(s)) {
      this.line('{');
      this.indent(() => s.statements.forEach((x) => this.statement(x)));
      this.line('}');
    } else if (ts.isVariableStatement(s)) {
      for (const d of s.declarationList.declarations) this.variable(d);
    } else if (ts.isExpressionStatement(s)) {
      this.line(`${this.effect(s.expression)};`);
    } else if (ts.isIfStatement(s)) {
      this.ifStatement(s, 'if');
    } else if (ts.isReturnStatement(s)) {
      this.line(s.expression ? `return ${this.expr(s.expression).text};` : 'return;');
    } else if (ts.isForStatement(s)) {
      const init = s.initializer && ts.isVariableDeclarationList(s.initializer)
        ? s.initializer.declarations.map((d) => this.variableText(d)).join(', ')
        : s.initializer ? this.effect(s.initializer) : '';
      const cond = s.condition ? this.expr(s.condition).text : '';
      const inc = s.incrementor ? this.effect(s.incrementor, true) : '';
      this.line(`for (${init}; ${cond}; ${inc}) {`);
      this.indent(() => this.body(s.statement));
      this.line('}');
    } else if (ts.isBreakStatement(s)) {
      this.line('break;');
    } else if (ts.isContinueStatement(s)) {
      this.line('continue;');
    } else if (ts.isSwitchStatement(s)) {
      this.line(`switch (${this.expr(s.expression).text}) {`);
      for (const clause of s.caseBlock.clauses) {
        const label = ts.isCaseClause(clause) ? `case ${this.expr(clause.expression).text}:` : 'default:';
        const only = clause.statements.length === 1 ? clause.statements[0] : undefined;
        if (only && ts.isBlock(only)) {
          this.line(`${label} {`);
          this.indent(() => this.body(only));
          this.line('}');
          continue;
        }
        this.line(label);
        // Declarations after a case label need a block of their own in C.
        const scoped = clause.statements.some((x) => ts.isVariableStatement(x));
        this.indent(() => {
          if (!scoped) {
            clause.statements.forEach((x) => this.statement(x));
            return;
          }
          this.line('{');
          this.indent(() => clause.statements.forEach((x) => this.statement(x)));
          this.line('}');
        });
      }
      this.line('}');
    } else if (ts.isEmptyStatement(s)) {
      // nothing
    } else {
      this.line(`/* unsupported: ${ts.SyntaxKind[s.kind]} */`);
    }
  }

  private body(s: ts.Statement): void {
    if (ts.isBlock(s)) s.statements.forEach((x) => this.statement(x));
    else this.statement(s);
  }

  /** Kernel style: no braces when both branches are single statements, braces on both otherwise. */
  private ifStatement(s: ts.IfStatement, keyword: string, chained = false): void {
    const other = s.elseStatement;
    const braces = chained || ts.isBlock(s.thenStatement) || (other !== undefined && (ts.isBlock(other) || ts.isIfStatement(other)));
    const cond = this.expr(s.expression).text;
    if (!braces) {
      this.line(`${keyword} (${cond})`);
      this.indent(() => this.statement(s.thenStatement));
      if (other) {
        this.line('else');
        this.indent(() => this.statement(other));
      }
      return;
    }
    this.line(`${keyword} (${cond}) {`);
    this.indent(() => this.body(s.thenStatement));
    if (!other) {
      this.line('}');
    } else if (ts.isIfStatement(other)) {
      this.ifStatement(other, '} else if', true);
    } else {
      this.line('} else {');
      this.indent(() => this.body(other));
      this.line('}');
    }
  }

  private variable(d: ts.VariableDeclaration): void {
    const v = this.program.checked.locals.get(d);
    const cls = this.program.checked.stackallocs.get(d);
    if (v && cls) {
      const name = this.local(v);
      this.line(`struct ${structName(cls)} __${name}_storage = {};`);
      this.line(`struct ${structName(cls)} *${name} = &__${name}_storage;`);
      return;
    }
    this.line(`${this.variableText(d)};`);
  }

  private variableText(d: ts.VariableDeclaration): string {
    const v = this.program.checked.locals.get(d);
    if (!v) return `/* error: ${d.name.getText()} */ int ${d.name.getText()}`;
    const name = this.local(v);
    const t: Ty = v.type.kind === 'class' ? { ...v.type, nullable: false } : v.type;
    const init = d.initializer ? this.expr(d.initializer).text : '0';
    return `${declare(t, name)} = ${init}`;
  }

  /** An expression statement (or for-loop increment): assignments, increments, calls. */
  private effect(e: ts.Expression, loopIncrement = false): string {
    const types = this.program.checked.types;
    if (ts.isBinaryExpression(e)) {
      const kind = e.operatorToken.kind;
      if (kind === ts.SyntaxKind.EqualsToken) return `${this.expr(e.left).text} = ${this.expr(e.right).text}`;
      const op = COMPOUND.get(kind);
      if (op !== undefined) {
        const target = types.get(e.left);
        const right = types.get(e.right);
        if (target?.kind !== 'int' || right?.kind !== 'int') return `${this.expr(e.left).text} ${e.operatorToken.getText()} ${this.expr(e.right).text}`;
        const common = SHIFTS.has(op) || INTS[right.name].size <= INTS[target.name].size ? target.name : right.name;
        const lhs = { ...this.expr(e.left), exact: true };
        const r = this.arithmetic(op, lhs, target.name, e.right, common);
        return r.plain ? `${lhs.text} ${OPERATOR_TEXT[op]}= ${r.right.text}` : `${lhs.text} = ${r.expr.text}`;
      }
    }
    if ((ts.isPostfixUnaryExpression(e) || ts.isPrefixUnaryExpression(e))
      && (e.operator === ts.SyntaxKind.PlusPlusToken || e.operator === ts.SyntaxKind.MinusMinusToken)) {
      const target = this.expr(e.operand);
      const t = types.get(e);
      const op = e.operator === ts.SyntaxKind.PlusPlusToken ? '+' : '-';
      if (!loopIncrement && t?.kind === 'int' && INTS[t.name].signed && INTS[t.name].size >= 4) {
        const next = castTo(INTS[t.name].c, binaryOp(castTo(unsignedOf(t.name), target), op, primary('1')));
        return `${target.text} = ${next.text}`;
      }
      return `${target.text}${op}${op}`;
    }
    if (ts.isCallExpression(e)) {
      const m = this.program.checked.mapCalls.get(e);
      if (m && m.method !== 'lookup') return this.mapCall(e, true).text;
    }
    return this.expr(e).text;
  }

  // ---- expressions ----

  private typeOf(e: ts.Expression): Ty | undefined {
    return this.program.checked.types.get(e);
  }

  private intType(e: ts.Expression): IntName | undefined {
    const t = this.typeOf(e);
    return t?.kind === 'int' ? t.name : undefined;
  }

  /** Emits `e`; `suffix` asks an integer literal to carry its C type (see literalText). */
  private expr(e: ts.Expression, suffix = false): CExpr {
    const checked = this.program.checked;
    // Source parentheses are not kept: every operator places its own from the levels.
    if (ts.isParenthesizedExpression(e)) return this.expr(e.expression, suffix);
    if (literalValue(e) !== undefined) return literal(e, this.intType(e) ?? 'i32', suffix);
    if (e.kind === ts.SyntaxKind.TrueKeyword) return primary('1');
    if (e.kind === ts.SyntaxKind.FalseKeyword) return primary('0');
    if (e.kind === ts.SyntaxKind.NullKeyword) return primary('NULL');
    if (ts.isIdentifier(e)) {
      const ref = checked.refs.get(e);
      const input = ref?.kind === 'local' ? this.lazy?.holds.get(ref.v) : undefined;
      if (input) return primary(`mc_input_${this.local(input)}(mc_in)`);
      return primary(ref?.kind === 'local' ? this.local(ref.v) : e.text);
    }
    if (ts.isPropertyAccessExpression(e)) return primary(`${operand(this.expr(e.expression), Level.Postfix)}->${this.member(e)}`);
    if (ts.isCallExpression(e)) {
      const cast = checked.castCalls.get(e);
      if (cast) return this.cast(cast, e.arguments[0]);
      if (checked.mapCalls.has(e)) return this.mapCall(e, false);
      const f = checked.calls.get(e);
      const name = f ? this.cName(f) : e.expression.getText();
      const args = e.arguments.filter((_, i) => !(f && this.lazy?.holds.has(f.params[i]!))).map((a) => operand(this.expr(a), Level.Assign));
      if (f && this.lazy?.needsIn.has(f)) args.unshift('mc_in');
      return primary(`${name}(${args.join(', ')})`);
    }
    if (ts.isTypeAssertionExpression(e) || ts.isAsExpression(e)) {
      const t = this.intType(e);
      return t ? this.cast(t, e.expression) : { ...this.expr(e.expression), exact: true };
    }
    if (ts.isPrefixUnaryExpression(e)) return this.prefix(e, suffix);
    if (ts.isConditionalExpression(e)) {
      const a = this.expr(e.whenTrue, true);
      const b = this.expr(e.whenFalse, true);
      return conditional(this.expr(e.condition), a, b, a.exact && b.exact);
    }
    if (ts.isBinaryExpression(e)) return this.binary(e);
    return primary(`/* unsupported: ${ts.SyntaxKind[e.kind]} */ 0`);
  }

  /** The C member a field access names: `addr[1]` for the field `addr1` of an array. */
  private member(e: ts.PropertyAccessExpression): string {
    const t = this.typeOf(e.expression);
    const field = t?.kind === 'class' ? t.cls.fields.find((f) => f.name === e.name.text) : undefined;
    return field?.element ? `${field.element.array}[${field.element.index}]` : e.name.text;
  }

  private cast(to: IntName, operand: ts.Expression): CExpr {
    const from = this.intType(operand);
    const inner = this.expr(operand);
    if (to === 'bool') return from === 'bool' ? { ...inner, exact: true } : binaryOp(inner, '!=', primary('0'));
    if (from === to) return inner;
    return castTo(INTS[to].c, inner);
  }

  private prefix(e: ts.PrefixUnaryExpression, suffix: boolean): CExpr {
    const x = this.expr(e.operand, suffix);
    const t = this.intType(e);
    switch (e.operator) {
      case ts.SyntaxKind.ExclamationToken: return unary('!', x);
      case ts.SyntaxKind.PlusToken: return x;
      case ts.SyntaxKind.TildeToken:
        if (t && INTS[t].size < 4 && !INTS[t].signed) return castTo(INTS[t].c, unary('~', x));
        return unary('~', x, x.exact);
      case ts.SyntaxKind.MinusToken:
        if (!t) return unary('-', x);
        if (INTS[t].size < 4) return castTo(INTS[t].c, unary('-', x));
        if (INTS[t].signed) return castTo(INTS[t].c, unary('-', castTo(unsignedOf(t), x)));
        return unary('-', x, x.exact);
    }
    return primary(`/* unsupported operator */ ${operand(x, Level.Postfix)}`);
  }

  private binary(e: ts.BinaryExpression): CExpr {
    const op = e.operatorToken.kind;
    const opText = OPERATOR_TEXT[op] ?? e.operatorToken.getText();
    if (op === ts.SyntaxKind.AmpersandAmpersandToken || op === ts.SyntaxKind.BarBarToken) {
      return binaryOp(this.expr(e.left), opText, this.expr(e.right));
    }
    const isNull = (x: ts.Expression) => unparen(x).kind === ts.SyntaxKind.NullKeyword;
    if (isNull(e.left) || isNull(e.right)) {
      const subject = this.expr(isNull(e.left) ? e.right : e.left);
      const negative = op === ts.SyntaxKind.EqualsEqualsToken || op === ts.SyntaxKind.EqualsEqualsEqualsToken;
      return negative ? unary('!', subject) : { ...subject, exact: true };
    }
    if (ARITHMETIC.has(op)) {
      const t = this.intType(e);
      const lt = this.intType(e.left);
      if (!t || !lt) return binaryOp(this.expr(e.left), opText, this.expr(e.right));
      // A literal carries its C type unless the other operand already has exactly type t.
      const right = this.expr(e.right);
      const left = this.expr(e.left, SHIFTS.has(op) || !right.exact || this.intType(e.right) !== t);
      return { ...this.arithmetic(op, left, lt, e.right, t).expr, exact: true };
    }
    // Comparisons: the operands are already values of the common type's range.
    const leftLit = literalValue(e.left) !== undefined;
    const rightLit = literalValue(e.right) !== undefined;
    const l = this.expr(e.left, rightLit && leftLit);
    const r = this.expr(e.right, leftLit && rightLit);
    return binaryOp(l, opText, r);
  }

  /**
   * `left op right` in AssemblyScript type `t` with Wasm semantics. `plain` is set when the
   * result is exactly `left op right` (so a compound assignment can stay `x op= y`); `right` is
   * the right operand as emitted (a shift count masked).
   */
  private arithmetic(
    op: ts.SyntaxKind, left: CExpr, leftType: IntName, rightNode: ts.Expression, t: IntName,
  ): { expr: CExpr; plain: boolean; right: CExpr } {
    const info = INTS[t];
    const c = info.c;
    const u = unsignedOf(t);
    const small = info.size < 4;
    const rightType = this.intType(rightNode);

    if (SHIFTS.has(op)) {
      const count = this.shiftCount(rightNode, info.size * 8);
      const countPlain = count.text === this.expr(rightNode).text;
      const logical = op === ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken;
      const wide = small ? '__u32' : u;
      if (op === ts.SyntaxKind.LessThanLessThanToken) {
        if (small || info.signed) return { expr: castTo(c, binaryOp(castTo(wide, left), '<<', count)), plain: false, right: count };
        return { expr: binaryOp(left, '<<', count), plain: countPlain, right: count };
      }
      if (info.signed && logical) return { expr: castTo(c, binaryOp(castTo(wide, left), '>>', count)), plain: false, right: count };
      // An operand of another type (an i32 in an i64 shift) is converted first.
      if (leftType !== t && !small) return { expr: binaryOp(castTo(c, left), '>>', count), plain: false, right: count };
      return { expr: binaryOp(left, '>>', count), plain: countPlain, right: count };
    }

    const rightIsLiteral = literalValue(rightNode) !== undefined;
    const right = this.expr(rightNode, rightIsLiteral && !(left.exact && leftType === t));
    const opText = OPERATOR_TEXT[op]!;

    if (op === ts.SyntaxKind.SlashToken || op === ts.SyntaxKind.PercentToken) {
      const divisor = this.constantValue(rightNode);
      if (divisor !== undefined && divisor !== 0n) return { expr: binaryOp(left, opText, right), plain: true, right };
      const zero = primary('0');
      if (isSimple(rightNode)) return { expr: conditional(right, binaryOp(left, opText, right), zero), plain: false, right };
      const d = primary('__d');
      const guarded = conditional(d, binaryOp(left, opText, d), zero);
      return { expr: primary(`({ ${c} __d = ${right.text}; ${guarded.text}; })`), plain: false, right };
    }
    const bitwise = op === ts.SyntaxKind.AmpersandToken || op === ts.SyntaxKind.BarToken || op === ts.SyntaxKind.CaretToken;
    if (bitwise) {
      // Operands of another type (a u8 in an i8 operation) may need re-wrapping.
      const same = leftType === t && (rightType === t || rightIsLiteral);
      const signedMix = info.signed && !(INTS[leftType].signed && (rightIsLiteral || (rightType !== undefined && INTS[rightType].signed)));
      if ((small && !same) || signedMix) return { expr: castTo(c, binaryOp(left, opText, right)), plain: false, right };
      return { expr: binaryOp(left, opText, right), plain: true, right };
    }
    // + - *: small types are computed in 32 bits and wrapped; signed ones in unsigned arithmetic.
    if (small) {
      const lhs = op === ts.SyntaxKind.AsteriskToken ? castTo('__u32', left) : left;
      return { expr: castTo(c, binaryOp(lhs, opText, right)), plain: op !== ts.SyntaxKind.AsteriskToken, right };
    }
    if (info.signed) return { expr: castTo(c, binaryOp(castTo(u, left), opText, right)), plain: false, right };
    return { expr: binaryOp(left, opText, right), plain: true, right };
  }

  /** A shift count masked to the operand width, as Wasm (and AssemblyScript for small types) does. */
  private shiftCount(e: ts.Expression, bits: number): CExpr {
    const v = this.constantValue(e);
    if (v !== undefined) return primary(String(BigInt.asUintN(64, v) & BigInt(bits - 1)));
    return binaryOp(this.expr(e), '&', primary(String(bits - 1)));
  }

  /** The value of a literal or constant operand, if it is one. */
  private constantValue(e: ts.Expression): bigint | undefined {
    const x = unparen(e);
    const lit = literalValue(x);
    if (lit !== undefined) return lit;
    if (ts.isIdentifier(x)) {
      const ref = this.program.checked.refs.get(x);
      if (ref?.kind === 'const') return ref.c.value;
    }
    return undefined;
  }

  private mapCall(e: ts.CallExpression, statement: boolean): CExpr {
    const { map, method } = this.program.checked.mapCalls.get(e)!;
    const [k, v] = e.arguments;
    const arg = (x: ts.Expression) => operand(this.expr(x), Level.Assign);
    const key = k === undefined ? 'NULL' : map.key ? arg(k) : `&(__u32){ ${arg(k)} }`;
    switch (method) {
      case 'lookup':
        return primary(`bpf_map_lookup_elem(&${map.name}, ${key})`);
      case 'update': {
        const call = primary(`bpf_map_update_elem(&${map.name}, ${key}, ${v ? arg(v) : 'NULL'}, BPF_ANY)`);
        return statement ? call : castTo('__s32', call);
      }
      case 'delete': {
        const call = primary(`bpf_map_delete_elem(&${map.name}, ${key})`);
        return statement ? call : binaryOp(call, '==', primary('0'));
      }
    }
  }
}

/** A C integer literal for an AssemblyScript literal of type `t`. With `suffix`, the literal
 * carries its type (`U`, `ULL`, `LL`) so that C computes in that width even with no typed
 * operand beside it; decimal values above INT_MAX always do. */
function literal(e: ts.Expression, t: IntName, suffix: boolean): CExpr {
  const v = literalValue(e)!;
  if (t === 'bool') return primary(v !== 0n ? '1' : '0', false);
  const x = unparen(e);
  const negative = ts.isPrefixUnaryExpression(x);
  const digits = (negative ? unparen((x as ts.PrefixUnaryExpression).operand) : x).getText().replace(/_/g, '');
  const abs = v < 0n ? -v : v;
  const text = /^0[oObB]/.test(digits) ? abs.toString() : digits;
  const big = abs > 0x7fffffffn;
  const info = INTS[t];
  let s = '';
  if (!info.signed && info.size === 4 && (suffix || big)) s = 'U';
  else if (!info.signed && info.size === 8 && (suffix || big)) s = 'ULL';
  else if (info.signed && info.size === 8 && (suffix || big)) s = 'LL';
  else if (info.signed && info.size === 4 && big) return castTo('__s32', primary(`${text}U`));
  const exact = s !== '' || t === 'i32';
  return negative ? { text: `-${text}${s}`, level: Level.Unary, op: 'neg', exact } : primary(`${text}${s}`, exact);
}

/** Side-effect-free and cheap: may be evaluated twice (a guarded divisor). */
function isSimple(e: ts.Expression): boolean {
  const x = unparen(e);
  if (ts.isIdentifier(x) || ts.isNumericLiteral(x)) return true;
  if (ts.isPropertyAccessExpression(x)) return isSimple(x.expression);
  if (ts.isTypeAssertionExpression(x) || ts.isAsExpression(x)) return isSimple(x.expression);
  return false;
}

/**
 * The service variable when `decide` opens with `const svc = mc_services.lookup(key);` and
 * `if (svc == null) { out.f = CONST; ... return VERDICT_PASS; }`: a key that is no service then
 * passes with no other effect, so the hooks may look it up themselves first.
 */
export function serviceLookupPrologue(f: FunctionInfo): LocalVar | undefined {
  const [first, second] = f.decl.node.body?.statements ?? [];
  const key = f.params[0];
  if (!first || !second || !key || !ts.isVariableStatement(first) || !ts.isIfStatement(second) || second.elseStatement) return undefined;
  const decls = first.declarationList.declarations;
  if (decls.length !== 1 || !ts.isIdentifier(decls[0]!.name)) return undefined;
  const svcName = decls[0]!.name.text;
  const init = decls[0]!.initializer;
  if (!init || !ts.isCallExpression(init) || init.arguments.length !== 1) return undefined;
  const callee = init.expression;
  if (!ts.isPropertyAccessExpression(callee) || !ts.isIdentifier(callee.expression) || callee.expression.text !== 'mc_services' || callee.name.text !== 'lookup') return undefined;
  const arg = init.arguments[0]!;
  if (!ts.isIdentifier(arg) || arg.text !== key.name) return undefined;
  const cond = second.expression;
  const isNull = (e: ts.Expression) => e.kind === ts.SyntaxKind.NullKeyword;
  const isSvc = (e: ts.Expression) => ts.isIdentifier(e) && e.text === svcName;
  const nullCheck = ts.isBinaryExpression(cond) &&
    (cond.operatorToken.kind === ts.SyntaxKind.EqualsEqualsToken || cond.operatorToken.kind === ts.SyntaxKind.EqualsEqualsEqualsToken) &&
    ((isSvc(cond.left) && isNull(cond.right)) || (isNull(cond.left) && isSvc(cond.right)));
  const notSvc = ts.isPrefixUnaryExpression(cond) && cond.operator === ts.SyntaxKind.ExclamationToken && isSvc(cond.operand);
  if (!nullCheck && !notSvc) return undefined;
  const body = ts.isBlock(second.thenStatement) ? [...second.thenStatement.statements] : [second.thenStatement];
  const last = body.pop();
  if (!last || !ts.isReturnStatement(last) || !last.expression || !ts.isIdentifier(last.expression) || last.expression.text !== 'VERDICT_PASS') return undefined;
  const params = new Set(f.params.map((p) => p.name));
  for (const s of body) {
    // Only `param.field = CONSTANT;`: writes to the caller's output, no call, no map.
    if (!ts.isExpressionStatement(s) || !ts.isBinaryExpression(s.expression) || s.expression.operatorToken.kind !== ts.SyntaxKind.EqualsToken) return undefined;
    const { left, right } = s.expression;
    if (!ts.isPropertyAccessExpression(left) || !ts.isIdentifier(left.expression) || !params.has(left.expression.text)) return undefined;
    if (!ts.isIdentifier(right) && !ts.isNumericLiteral(right)) return undefined;
  }
  return f.locals.find((l) => l.name === svcName && l.lookup);
}
