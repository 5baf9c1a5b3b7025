// Module-level declarations of the policy subset: integer constants, @unmanaged classes with
// their byte layout, map declarations and function signatures, each checked as it is read.
import ts from 'typescript';
import type { DiagnosticSink } from './diagnostics.ts';
import { resolveLocal, type ModuleGraph, type SourceModule } from './read.ts';
import {
  ERROR, INTS, NULL, VOID, int, isIntName, type ClassDecl, type ConstDecl, type FieldDecl,
  type FunctionDecl, type IntName, type MapDecl, type MapKind, type Ty,
} from './types.ts';

export class Declarations {
  readonly classes: ClassDecl[] = [];
  readonly consts: ConstDecl[] = [];
  readonly maps: MapDecl[] = [];
  private readonly classByNode = new Map<ts.Node, ClassDecl>();
  private readonly constByNode = new Map<ts.Node, ConstDecl>();
  private readonly mapByNode = new Map<ts.Node, MapDecl>();
  private readonly functionByNode = new Map<ts.Node, FunctionDecl>();
  private readonly evaluating = new Set<ConstDecl>();

  constructor(readonly graph: ModuleGraph, private readonly sink: DiagnosticSink) {
    // Classes first: constants and maps refer to them, in any module order.
    for (const mod of graph.modules) {
      for (const stmt of mod.sf!.statements) if (ts.isClassDeclaration(stmt)) this.readClass(mod, stmt);
    }
    for (const mod of graph.modules) {
      for (const stmt of mod.sf!.statements) this.readStatement(mod, stmt);
    }
    for (const c of this.consts) c.value = this.constValue(c);
  }

  classOf(node: ts.Node): ClassDecl | undefined { return this.classByNode.get(node); }
  constOf(node: ts.Node): ConstDecl | undefined { return this.constByNode.get(node); }
  mapOf(node: ts.Node): MapDecl | undefined { return this.mapByNode.get(node); }

  /** The signature of a function declaration, read on first use (only reachable ones are). */
  functionOf(mod: SourceModule, node: ts.FunctionDeclaration): FunctionDecl {
    let fn = this.functionByNode.get(node);
    if (fn) return fn;
    const name = node.name?.text ?? '<anonymous>';
    if (node.typeParameters?.length) {
      this.sink.at(node.typeParameters[0], 'MC1001', `generic function ${name} is not supported`,
        'write one function per concrete type');
    }
    const params = node.parameters.map((p) => {
      const pname = ts.isIdentifier(p.name) ? p.name.text : '<pattern>';
      if (!ts.isIdentifier(p.name)) this.sink.at(p, 'MC1001', 'destructuring parameters are not supported', 'use plain parameters');
      if (p.initializer) this.sink.at(p.initializer, 'MC1001', `default value of parameter ${pname} is not supported`, 'pass every argument explicitly');
      if (p.dotDotDotToken) this.sink.at(p, 'MC1004', `rest parameter ${pname} allocates an array`, 'use fixed parameters');
      let type: Ty = ERROR;
      if (!p.type) this.sink.at(p, 'MC1015', `parameter ${pname} of ${name} has no type`, 'annotate it, e.g. `x: u32`');
      else type = this.typeFrom(mod, p.type);
      if (type.kind === 'class' && type.nullable) {
        this.sink.at(p.type!, 'MC1015', `parameter ${pname} is nullable`, 'null-check in the caller and pass a non-null instance');
      }
      if (type.kind === 'void' || type.kind === 'null') {
        this.sink.at(p.type!, 'MC1015', `parameter ${pname} cannot have type ${type.kind}`, 'use an integer, bool or @unmanaged class type');
        type = ERROR;
      }
      return { name: pname, type, node: p };
    });
    let ret: Ty = ERROR;
    if (!node.type) this.sink.at(node.name ?? node, 'MC1015', `function ${name} has no return type`, 'annotate it, e.g. `): u8 {`');
    else ret = this.typeFrom(mod, node.type);
    if (ret.kind === 'class') {
      this.sink.at(node.type!, 'MC1011', `function ${name} returns a class instance`,
        'the C version would return a pointer into its own stack frame; take an out parameter instead');
      ret = ERROR;
    }
    fn = { name, module: mod, node, params, ret, doc: leadingDoc(node) };
    this.functionByNode.set(node, fn);
    return fn;
  }

  /** The type a type annotation names, diagnosing what the subset lacks. */
  typeFrom(mod: SourceModule, node: ts.TypeNode): Ty {
    const sink = this.sink;
    switch (node.kind) {
      case ts.SyntaxKind.VoidKeyword: return VOID;
      case ts.SyntaxKind.BooleanKeyword: return int('bool');
      case ts.SyntaxKind.AnyKeyword:
      case ts.SyntaxKind.UnknownKeyword:
        sink.at(node, 'MC1009', `type ${node.getText()} is not allowed`, 'give the value a concrete integer or class type');
        return ERROR;
      case ts.SyntaxKind.NumberKeyword:
        sink.at(node, 'MC1006', 'type number is f64 in AssemblyScript', 'use an integer type such as u32');
        return ERROR;
      case ts.SyntaxKind.StringKeyword:
        sink.at(node, 'MC1005', 'strings are not supported in BPF', 'use integer ids interned by the host');
        return ERROR;
      case ts.SyntaxKind.ArrayType:
      case ts.SyntaxKind.TupleType:
        sink.at(node, 'MC1004', `array type ${node.getText()} needs heap allocation`, 'use a map (ArrayMap) or separate fields');
        return ERROR;
      case ts.SyntaxKind.FunctionType:
        sink.at(node, 'MC1004', 'function values (closures) are not supported', 'call named functions directly');
        return ERROR;
      case ts.SyntaxKind.ParenthesizedType:
        return this.typeFrom(mod, (node as ts.ParenthesizedTypeNode).type);
      case ts.SyntaxKind.LiteralType:
        if ((node as ts.LiteralTypeNode).literal.kind === ts.SyntaxKind.NullKeyword) return NULL;
        break;
      case ts.SyntaxKind.UnionType: {
        const parts = (node as ts.UnionTypeNode).types.map((t) => this.typeFrom(mod, t));
        const nonNull = parts.filter((t) => t.kind !== 'null');
        if (nonNull.length === 1 && parts.length === 2 && nonNull[0].kind === 'class') {
          return { kind: 'class', cls: nonNull[0].cls, nullable: true };
        }
        if (parts.some((t) => t.kind === 'error')) return ERROR;
        sink.at(node, 'MC1015', `union type ${node.getText()} is not supported`, 'only `Class | null` (a map lookup result) is');
        return ERROR;
      }
      case ts.SyntaxKind.TypeReference: {
        const ref = node as ts.TypeReferenceNode;
        const name = ts.isIdentifier(ref.typeName) ? ref.typeName.text : ref.typeName.getText();
        if (isIntName(name)) return int(name);
        if (name === 'boolean') return int('bool');
        if (name === 'f32' || name === 'f64') {
          sink.at(node, 'MC1006', `floating-point type ${name} is not supported`, 'BPF has no floating point: use integers (fixed point if needed)');
          return ERROR;
        }
        if (name === 'usize' || name === 'isize') {
          sink.at(node, 'MC1015', `${name} is pointer-sized in Wasm and has no fixed width in BPF`, 'use u32 or u64');
          return ERROR;
        }
        if (name === 'string' || name === 'String') {
          sink.at(node, 'MC1005', 'strings are not supported in BPF', 'use integer ids interned by the host');
          return ERROR;
        }
        if (['Array', 'StaticArray', 'Uint8Array', 'Uint32Array', 'Map', 'Set', 'ArrayBuffer'].includes(name)) {
          sink.at(node, 'MC1004', `${name} needs heap allocation`, 'use a map declared in maps.ts');
          return ERROR;
        }
        const resolved = ts.isIdentifier(ref.typeName) ? resolveLocal(mod, name) : undefined;
        const cls = resolved?.kind === 'decl' ? this.classOf(resolved.node) : undefined;
        if (cls) return { kind: 'class', cls, nullable: false };
        sink.at(node, 'MC1015', `unknown type ${name}`, 'use an integer type, bool, or an @unmanaged class of the policy modules');
        return ERROR;
      }
    }
    sink.at(node, 'MC1015', `type ${node.getText()} is not supported`, 'use an integer type, bool, or an @unmanaged class');
    return ERROR;
  }

  private readClass(mod: SourceModule, node: ts.ClassDeclaration): void {
    const name = node.name?.text ?? '<anonymous>';
    const decorators = ts.getDecorators(node) ?? [];
    const decoratorNames = decorators.map((d) => d.expression.getText());
    if (!decoratorNames.includes('unmanaged')) {
      this.sink.at(node.name ?? node, 'MC1004', `class ${name} is managed (heap-allocated, garbage-collected)`,
        'declare it `@unmanaged class`, a plain struct');
    }
    if (node.heritageClauses?.length) {
      this.sink.at(node.heritageClauses[0], 'MC1001', `class ${name} extends or implements another type`, 'declare all fields in one class');
    }
    if (node.typeParameters?.length) {
      this.sink.at(node.typeParameters[0], 'MC1001', `generic class ${name} is not supported`, 'declare one class per layout');
    }
    const fields: FieldDecl[] = [];
    let offset = 0;
    let align = 1;
    for (const member of node.members) {
      if (!ts.isPropertyDeclaration(member)) {
        this.sink.at(member, 'MC1001', `class ${name} has a ${ts.isMethodDeclaration(member) ? 'method' : ts.isConstructorDeclaration(member) ? 'constructor' : 'member'} ${member.name?.getText() ?? ''}`.trimEnd(),
          'a layout class holds fields only; write functions that take it as a parameter');
        continue;
      }
      const fname = member.name.getText();
      if (member.initializer) {
        this.sink.at(member.initializer, 'MC1001', `field ${name}.${fname} has an initializer`,
          'instances come zeroed from stackalloc or from a map; set fields explicitly');
      }
      if ((ts.getModifiers(member) ?? []).some((m) => m.kind === ts.SyntaxKind.StaticKeyword)) {
        this.sink.at(member, 'MC1010', `static field ${name}.${fname} is a mutable global`, 'use a constant or a map');
        continue;
      }
      const t: Ty = member.type ? this.typeFrom(mod, member.type) : ERROR;
      if (!member.type) this.sink.at(member, 'MC1012', `field ${name}.${fname} has no type`, 'annotate it, e.g. `port: u16;`');
      if (t.kind === 'error') continue;
      if (t.kind !== 'int') {
        this.sink.at(member.type!, 'MC1012', `field ${name}.${fname} has type ${member.type!.getText()}`,
          'layout fields are fixed-width integers or bool; inline nested structs field by field');
        continue;
      }
      const size = INTS[t.name].size;
      if (offset % size !== 0) {
        const pad = size - (offset % size);
        this.sink.at(member, 'MC1012',
          `field ${name}.${fname} (${t.name}) at offset ${offset} needs ${pad} byte${pad > 1 ? 's' : ''} of implicit padding`,
          `add an explicit padding field (e.g. \`pad: u${pad * 8 === 24 ? 8 : pad * 8};\`) or reorder the fields by size`);
        offset += pad;
      }
      fields.push({ name: fname, type: t.name, offset, size, comment: trailingComment(member), node: member });
      offset += size;
      align = Math.max(align, size);
    }
    if (offset % align !== 0) {
      const pad = align - (offset % align);
      this.sink.at(node.name ?? node, 'MC1012',
        `class ${name} is ${offset} bytes, not a multiple of its ${align}-byte alignment: C would add ${pad} byte${pad > 1 ? 's' : ''} of trailing padding`,
        'add explicit padding fields at the end');
      offset += pad;
    }
    if (fields.length === 0 && node.members.length === 0) {
      this.sink.at(node.name ?? node, 'MC1012', `class ${name} has no fields`, 'an empty struct has no C layout');
    }
    markArrays(fields);
    const cls: ClassDecl = { name, module: mod, node, fields, size: offset, align, doc: leadingDoc(node) };
    this.classes.push(cls);
    this.classByNode.set(node, cls);
  }

  private readStatement(mod: SourceModule, stmt: ts.Statement): void {
    if (ts.isImportDeclaration(stmt) || ts.isExportDeclaration(stmt) || ts.isClassDeclaration(stmt)) return;
    if (ts.isFunctionDeclaration(stmt)) {
      if (!stmt.body) this.sink.at(stmt, 'MC1001', `function ${stmt.name?.text ?? ''} has no body`, 'declare functions with a body; host imports are not available in BPF');
      return;
    }
    if (ts.isVariableStatement(stmt)) {
      const list = stmt.declarationList;
      const isConst = (list.flags & ts.NodeFlags.Const) !== 0;
      for (const d of list.declarations) {
        const name = d.name.getText();
        if (!isConst) {
          this.sink.at(d.name, 'MC1010', `module-level variable ${name} is mutable`,
            'BPF programs share globals across CPUs; declare it `const` or keep state in a map');
          continue;
        }
        if (!ts.isIdentifier(d.name) || !d.initializer) {
          this.sink.at(d, 'MC1001', `declaration of ${name} is not supported`, 'write `export const NAME: u32 = value;`');
          continue;
        }
        if (ts.isNewExpression(d.initializer)) this.readMap(mod, d, d.initializer);
        else this.readConst(mod, d);
      }
      return;
    }
    if (ts.isEmptyStatement(stmt)) return;
    const kind = ts.isEnumDeclaration(stmt) ? 'enum' : ts.isTypeAliasDeclaration(stmt) ? 'type alias'
      : ts.isInterfaceDeclaration(stmt) ? 'interface' : ts.isModuleDeclaration(stmt) ? 'namespace' : 'top-level statement';
    this.sink.at(stmt, 'MC1001', `${kind} is not supported at module level`,
      'a policy module holds imports, constants, @unmanaged classes, map declarations and functions');
  }

  private readConst(mod: SourceModule, d: ts.VariableDeclaration): void {
    const name = (d.name as ts.Identifier).text;
    let type: IntName | undefined;
    if (d.type) {
      const t = this.typeFrom(mod, d.type);
      if (t.kind === 'error') return;
      if (t.kind !== 'int') {
        this.sink.at(d.type, 'MC1021', `constant ${name} has type ${d.type.getText()}`, 'module-level constants are integers or bool');
        return;
      }
      type = t.name;
    } else {
      const init = d.initializer!;
      if (this.reportNonInteger(init)) return;
      // AssemblyScript infers i32 for an integer literal (i64 when it does not fit).
      if (ts.isNumericLiteral(init)) type = BigInt(init.text.replace(/_/g, '')) > 0x7fffffffn ? 'i64' : 'i32';
      else if (init.kind === ts.SyntaxKind.TrueKeyword || init.kind === ts.SyntaxKind.FalseKeyword) type = 'bool';
      else {
        this.sink.at(d.name, 'MC1021', `constant ${name} has no type`, 'annotate it, e.g. `const MAX_X: u32 = 16;`');
        return;
      }
    }
    const c: ConstDecl = {
      name, module: mod, node: d, type, init: d.initializer!, value: undefined,
      comment: trailingComment(d.parent.parent),
    };
    this.consts.push(c);
    this.constByNode.set(d, c);
  }

  private reportNonInteger(init: ts.Expression): boolean {
    if (ts.isStringLiteral(init) || ts.isNoSubstitutionTemplateLiteral(init) || ts.isTemplateExpression(init)) {
      this.sink.at(init, 'MC1005', 'strings are not supported in BPF', 'use integer ids interned by the host');
      return true;
    }
    if (ts.isNumericLiteral(init) && /[.eE]/.test(init.text) && !/^0[xX]/.test(init.text)) {
      this.sink.at(init, 'MC1006', `float literal ${init.text}`, 'BPF has no floating point: use integers');
      return true;
    }
    if (ts.isArrayLiteralExpression(init) || ts.isObjectLiteralExpression(init) || ts.isArrowFunction(init) || ts.isFunctionExpression(init)) {
      this.sink.at(init, 'MC1004', 'array, object and function values need heap allocation', 'use a map, an @unmanaged class or a named function');
      return true;
    }
    return false;
  }

  /** The value of a constant, or undefined (diagnosed) when its initializer is not constant. */
  private constValue(c: ConstDecl): bigint | undefined {
    if (c.value !== undefined) return c.value;
    if (this.evaluating.has(c)) {
      this.sink.at(c.node.name, 'MC1021', `constant ${c.name} is defined in terms of itself`, 'give it a value that does not refer back to it');
      return undefined;
    }
    if (this.reportNonInteger(c.init)) return undefined;
    this.evaluating.add(c);
    const v = this.evaluate(c.module, c.init, c.type, true);
    this.evaluating.delete(c);
    if (v === undefined) return undefined;
    c.value = v;
    return v;
  }

  /**
   * Evaluates a constant expression (literals, other constants, arithmetic, casts) in the
   * width of `type`; undefined when it is not one (reported when `report` is set).
   */
  evaluate(mod: SourceModule, e: ts.Expression, type: IntName, report: boolean): bigint | undefined {
    const fail = (node: ts.Node, what: string): undefined => {
      if (report) this.sink.at(node, 'MC1021', `${what} is not a compile-time constant`, 'use literals, other constants and integer operators');
      return undefined;
    };
    const ev = (x: ts.Expression): bigint | undefined => {
      if (ts.isParenthesizedExpression(x)) return ev(x.expression);
      if (ts.isNumericLiteral(x)) {
        if (/[.eE]/.test(x.text) && !/^0[xX]/.test(x.text)) return fail(x, `float literal ${x.text}`);
        return wrap(BigInt(x.text.replace(/_/g, '')), type);
      }
      if (x.kind === ts.SyntaxKind.TrueKeyword) return 1n;
      if (x.kind === ts.SyntaxKind.FalseKeyword) return 0n;
      if (ts.isIdentifier(x)) {
        const r = resolveLocal(mod, x.text);
        const other = r?.kind === 'decl' ? this.constOf(r.node) : undefined;
        if (!other) return fail(x, x.text);
        const v = this.constValue(other);
        return v === undefined ? undefined : wrap(v, type);
      }
      if (ts.isPrefixUnaryExpression(x)) {
        const v = ev(x.operand);
        if (v === undefined) return undefined;
        if (x.operator === ts.SyntaxKind.MinusToken) return wrap(-v, type);
        if (x.operator === ts.SyntaxKind.PlusToken) return v;
        if (x.operator === ts.SyntaxKind.TildeToken) return wrap(~v, type);
        if (x.operator === ts.SyntaxKind.ExclamationToken) return v === 0n ? 1n : 0n;
        return fail(x, x.getText());
      }
      if (ts.isTypeAssertionExpression(x) || ts.isAsExpression(x)) {
        const t = x.type.getText();
        const v = isIntName(t) ? this.evaluate(mod, x.expression, t, report) : undefined;
        return v === undefined ? (isIntName(t) ? undefined : fail(x, x.getText())) : wrap(t === 'bool' ? (v !== 0n ? 1n : 0n) : v, type);
      }
      if (ts.isBinaryExpression(x)) {
        const l = ev(x.left);
        const r = ev(x.right);
        if (l === undefined || r === undefined) return undefined;
        const bits = BigInt(INTS[type].size * 8);
        switch (x.operatorToken.kind) {
          case ts.SyntaxKind.PlusToken: return wrap(l + r, type);
          case ts.SyntaxKind.MinusToken: return wrap(l - r, type);
          case ts.SyntaxKind.AsteriskToken: return wrap(l * r, type);
          case ts.SyntaxKind.SlashToken: return r === 0n ? fail(x, 'division by zero') : wrap(l / r, type);
          case ts.SyntaxKind.PercentToken: return r === 0n ? fail(x, 'division by zero') : wrap(l % r, type);
          case ts.SyntaxKind.AmpersandToken: return wrap(l & r, type);
          case ts.SyntaxKind.BarToken: return wrap(l | r, type);
          case ts.SyntaxKind.CaretToken: return wrap(l ^ r, type);
          case ts.SyntaxKind.LessThanLessThanToken: return wrap(l << (r & (bits - 1n)), type);
          case ts.SyntaxKind.GreaterThanGreaterThanToken: return wrap(l >> (r & (bits - 1n)), type);
          case ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken: return wrap(unsigned(l, type) >> (r & (bits - 1n)), type);
        }
        return fail(x, x.getText());
      }
      return fail(x, x.getText());
    };
    return ev(e);
  }

  private readMap(mod: SourceModule, d: ts.VariableDeclaration, init: ts.NewExpression): void {
    const name = (d.name as ts.Identifier).text;
    const ctor = init.expression;
    const resolved = ts.isIdentifier(ctor) ? resolveLocal(mod, ctor.text) : undefined;
    if (resolved?.kind !== 'builtin' || resolved.name === 'stackalloc') {
      this.sink.at(init, 'MC1004', `\`new ${ctor.getText()}\` allocates on the heap`,
        'only map declarations (new HashMap / LruHashMap / ArrayMap from runtime/maps) may use `new`');
      return;
    }
    const kind = resolved.name as MapKind;
    const typeArgs = init.typeArguments ?? [];
    const wanted = kind === 'ArrayMap' ? 1 : 2;
    if (typeArgs.length !== wanted) {
      this.sink.at(init, 'MC1020', `map ${name}: ${kind} takes ${wanted === 1 ? 'one type argument <Value>' : 'two type arguments <Key, Value>'}`,
        kind === 'ArrayMap' ? 'e.g. `new ArrayMap<Counter>(7, MAX_SERVICES)`' : 'e.g. `new HashMap<ServiceKey, ServiceValue>(0, MAX_SERVICES)`');
      return;
    }
    const classArg = (t: ts.TypeNode, role: string): ClassDecl | undefined => {
      const ty = this.typeFrom(mod, t);
      if (ty.kind === 'class' && !ty.nullable) return ty.cls;
      if (ty.kind !== 'error') this.sink.at(t, 'MC1020', `map ${name}: ${role} type must be an @unmanaged class`, 'declare the layout in layouts.ts');
      return undefined;
    };
    const key = kind === 'ArrayMap' ? null : classArg(typeArgs[0], 'key');
    const value = classArg(typeArgs[wanted - 1], 'value');
    const args = init.arguments ?? [];
    if (args.length !== 2) {
      this.sink.at(init, 'MC1020', `map ${name}: expected two arguments (Wasm map id, max entries), got ${args.length}`,
        `e.g. \`new ${kind}<...>(0, MAX_SERVICES)\``);
      return;
    }
    const id = args[0];
    if (!ts.isNumericLiteral(id)) {
      this.sink.at(id, 'MC1020', `map ${name}: the Wasm map id must be an integer literal`, 'number the maps 0, 1, 2, ...');
      return;
    }
    const wasmId = Number(id.text);
    const clash = this.maps.find((m) => m.wasmId === wasmId);
    if (clash) {
      this.sink.at(id, 'MC1020', `map ${name}: Wasm map id ${wasmId} is already used by ${clash.name}`, 'give every map its own id');
    }
    const max = this.evaluate(mod, args[1], 'u32', true);
    if (max !== undefined && max === 0n) {
      this.sink.at(args[1], 'MC1020', `map ${name}: max entries is 0`, 'the kernel refuses maps without entries');
    }
    if (key === undefined || !value) return;
    const map: MapDecl = { name, module: mod, node: d, kind, key, value, maxEntries: args[1], maxEntriesValue: max, wasmId };
    this.maps.push(map);
    this.mapByNode.set(d, map);
  }
}

/** `v` reduced to the range of `type`, as a store of that type does. */
export function wrap(v: bigint, type: IntName): bigint {
  if (type === 'bool') return v !== 0n ? 1n : 0n;
  const info = INTS[type];
  const bits = info.size * 8;
  return info.signed ? BigInt.asIntN(bits, v) : BigInt.asUintN(bits, v);
}

function unsigned(v: bigint, type: IntName): bigint {
  return BigInt.asUintN(INTS[type].size * 8, v);
}

/** The comment after a node on its own line (`port: u16; // frontend port`), without `//`. */
export function trailingComment(node: ts.Node): string {
  const text = node.getSourceFile().text;
  const ranges = ts.getTrailingCommentRanges(text, node.end) ?? [];
  return ranges.map((r) => {
    const raw = text.slice(r.pos, r.end);
    return r.kind === ts.SyntaxKind.SingleLineCommentTrivia ? raw.slice(2).trim() : raw.slice(2, -2).trim();
  }).join(' ');
}

/** The comments directly above a node (no blank line between), verbatim. */
export function leadingDoc(node: ts.Node): string {
  const sf = node.getSourceFile();
  const text = sf.text;
  const ranges = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
  const kept: ts.CommentRange[] = [];
  let end = node.getStart(sf);
  for (let i = ranges.length - 1; i >= 0; i--) {
    const between = text.slice(ranges[i].end, end);
    if ((between.match(/\n/g) ?? []).length > 1) break;
    kept.unshift(ranges[i]);
    end = ranges[i].pos;
  }
  return kept.map((r) => text.slice(r.pos, r.end)).join('\n');
}

/**
 * Fields `name0`, `name1`, … `name<N-1>` in a row, of one type (N >= 2), are the elements of one
 * array `name[N]`: AssemblyScript has no inline arrays in an @unmanaged class, C and the host do.
 * Not when another field is called `name`.
 */
function markArrays(fields: FieldDecl[]): void {
  for (let i = 0; i < fields.length; i++) {
    const m = /^(.*[^0-9])0$/.exec(fields[i].name);
    if (!m) continue;
    const array = m[1];
    let n = 1;
    while (i + n < fields.length && fields[i + n].name === `${array}${n}` && fields[i + n].type === fields[i].type) n++;
    if (n < 2 || fields.some((f) => f.name === array)) continue;
    for (let k = 0; k < n; k++) fields[i + k].element = { array, index: k, count: n };
    i += n - 1;
  }
}
