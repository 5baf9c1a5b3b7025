// Reads the functions policy.wasm exports: those of assembly/index.ts, following `export * from`,
// with their AssemblyScript parameter and return types, for the generated PolicyExports type.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface WasmExport {
  name: string;
  /** The declaring module, relative to the base directory. */
  file: string;
  params: { name: string; type: string }[];
  ret: string;
}

/** AssemblyScript value types by how JavaScript sees them at the Wasm boundary. */
const JS_TYPES: Record<string, 'number' | 'bigint' | 'void'> = {
  i8: 'number', i16: 'number', i32: 'number', u8: 'number', u16: 'number', u32: 'number',
  isize: 'number', usize: 'number', f32: 'number', f64: 'number', bool: 'number',
  i64: 'bigint', u64: 'bigint', void: 'void',
};

export function jsType(asType: string, where: string): 'number' | 'bigint' | 'void' {
  const type = JS_TYPES[asType];
  if (!type) throw new Error(`${where}: type ${asType} cannot cross the Wasm boundary as a number (use a fixed-width integer)`);
  return type;
}

/** Exported functions of `entry` and of the modules it re-exports with `export *`, in order. */
export function readWasmExports(entry: string, baseDir: string): WasmExport[] {
  const found: WasmExport[] = [];
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const rel = path.relative(baseDir, file).split(path.sep).join('/');
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    for (const stmt of sf.statements) {
      if (ts.isExportDeclaration(stmt) && !stmt.exportClause && stmt.moduleSpecifier && ts.isStringLiteral(stmt.moduleSpecifier)) {
        visit(path.resolve(path.dirname(file), `${stmt.moduleSpecifier.text}.ts`));
      } else if (ts.isExportDeclaration(stmt)) {
        throw new Error(`${rel}: only \`export * from\` re-exports are read for the Wasm exports`);
      } else if (ts.isFunctionDeclaration(stmt) && stmt.name && stmt.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
        const where = `${rel}: ${stmt.name.text}`;
        const typeOf = (node: ts.TypeNode | undefined, what: string) => {
          if (!node) throw new Error(`${where}: ${what} has no type`);
          return node.getText(sf);
        };
        found.push({
          name: stmt.name.text,
          file: rel,
          params: stmt.parameters.map((p) => ({ name: p.name.getText(sf), type: typeOf(p.type, `parameter ${p.name.getText(sf)}`) })),
          ret: typeOf(stmt.type, 'the return'),
        });
      }
    }
  };
  visit(path.resolve(entry));
  return found;
}
