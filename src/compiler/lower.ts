// Phase 3, lower: decides the C side of every checked declaration: C names (structs, macros,
// maps, `mc_` functions, locals that would clash), and the order of emission (callees first).
import path from 'node:path';
import type { CheckedProgram, FunctionInfo, LocalVar } from './check/index.ts';
import type { DiagnosticSink } from './diagnostics.ts';
import type { ClassDecl, ConstDecl, MapDecl } from './types.ts';

export interface LoweredProgram {
  checked: CheckedProgram;
  consts: ConstDecl[];
  classes: ClassDecl[];
  maps: MapDecl[];
  /** Reachable functions, every callee before its callers. */
  functions: FunctionInfo[];
  functionName: Map<FunctionInfo, string>;
  localName: Map<LocalVar, string>;
}

const C_RESERVED = new Set([
  'auto', 'break', 'case', 'char', 'const', 'continue', 'default', 'do', 'double', 'else', 'enum', 'extern',
  'float', 'for', 'goto', 'if', 'inline', 'int', 'long', 'register', 'restrict', 'return', 'short', 'signed',
  'sizeof', 'static', 'struct', 'switch', 'typedef', 'union', 'unsigned', 'void', 'volatile', 'while',
  'asm', 'typeof', 'bool', 'true', 'false', 'NULL', 'SEC', 'BPF_ANY',
]);

/** `decideWith` → `decide_with`, `ServiceKey` → `service_key`, `HTTPRoute` → `http_route`. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

export function structName(cls: ClassDecl): string {
  return snakeCase(cls.name);
}

export function lower(checked: CheckedProgram, sink: DiagnosticSink): LoweredProgram {
  const { decls } = checked;
  const globals = new Map<string, string>(); // C name → what holds it, for clash reports
  const claim = (cName: string, what: string, node: import('typescript').Node): boolean => {
    const holder = globals.get(cName);
    if (holder !== undefined) {
      sink.at(node, 'MC1019', `${what} becomes C name ${cName}, already used by ${holder}`, 'rename one of them');
      return false;
    }
    globals.set(cName, what);
    return true;
  };
  for (const c of decls.consts) claim(c.name, `constant ${c.name} (${c.module.rel})`, c.node.name);
  for (const m of decls.maps) claim(m.name, `map ${m.name} (${m.module.rel})`, m.node.name);
  const structs = new Map<string, ClassDecl>();
  for (const cls of decls.classes) {
    const s = structName(cls);
    const other = structs.get(s);
    if (other) {
      sink.at(cls.node.name ?? cls.node, 'MC1019', `class ${cls.name} becomes struct ${s}, already used by class ${other.name} (${other.module.rel})`, 'rename one of them');
    } else structs.set(s, cls);
  }

  // Functions: `mc_` + snake case; a second function of the same name (a user policy's helper
  // beside a built-in one) gets its module's name in the middle.
  const functionName = new Map<FunctionInfo, string>();
  for (const f of checked.functions) {
    let cName = `mc_${snakeCase(f.decl.name)}`;
    if (globals.has(cName)) cName = `mc_${snakeCase(path.basename(f.decl.module.path, '.ts')).replace(/[^a-z0-9_]/g, '_')}_${snakeCase(f.decl.name)}`;
    claim(cName, `function ${f.decl.name} (${f.decl.module.rel})`, f.decl.node.name ?? f.decl.node);
    functionName.set(f, cName);
  }

  const functions: FunctionInfo[] = [];
  const placed = new Set<FunctionInfo>();
  const place = (f: FunctionInfo) => {
    if (placed.has(f)) return;
    placed.add(f);
    for (const c of f.calls) place(c.callee);
    functions.push(f);
  };
  for (const r of checked.roots) place(r);

  const localName = new Map<LocalVar, string>();
  for (const f of checked.functions) {
    for (const v of f.locals) {
      // `__` names are the generator's own (`__key_storage`) and the compiler's.
      let name = v.name.startsWith('__') ? `v${v.name}` : v.name;
      while (C_RESERVED.has(name) || globals.has(name)) name = `${name}_`;
      localName.set(v, name);
    }
  }

  return {
    checked, consts: decls.consts, classes: decls.classes, maps: decls.maps, functions, functionName, localName,
  };
}
