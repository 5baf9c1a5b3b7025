// Reads what only the kernel side declares: the `#define`s and structs of the hook glue's headers
// (bpf/meshc_consts.h, bpf/meshc_structs.h, bpf/meshc_netpol.h), for the TypeScript generated from
// them. A small C subset: object-like `#define NAME <integer expression>` and `struct tag { type
// name[N]; };` with fixed-width integer, char and struct members. A struct with a pointer member is
// the programs' own working state and is left out; anything else in a struct is an error, so a
// header change the reader does not understand stops generation instead of producing a wrong layout.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface GlueConstant {
  name: string;
  value: number;
  comment: string;
  file: string;
}

export type GlueFieldType = 'u8' | 'u16' | 'u32' | 'u64' | 'char' | 'struct';

export interface GlueField {
  name: string;
  type: GlueFieldType;
  /** The struct tag, for `struct` members. */
  struct?: string;
  offset: number;
  /** Element count of an array member; absent for a scalar. */
  count?: number;
  comment: string;
}

export interface GlueStruct {
  /** The C tag (`mc_event`). */
  cName: string;
  file: string;
  size: number;
  align: number;
  fields: GlueField[];
  comment: string;
}

export interface GlueDeclarations {
  constants: GlueConstant[];
  structs: GlueStruct[];
}

/** A struct the glue refers to but does not define (the generated policy's). */
export interface KnownStruct {
  cName: string;
  size: number;
  align: number;
}

const SCALARS: Record<string, { type: Exclude<GlueFieldType, 'struct'>; size: number }> = {
  __u8: { type: 'u8', size: 1 },
  __u16: { type: 'u16', size: 2 },
  __be16: { type: 'u16', size: 2 },
  __u32: { type: 'u32', size: 4 },
  __be32: { type: 'u32', size: 4 },
  __u64: { type: 'u64', size: 8 },
  char: { type: 'char', size: 1 },
};

/** `const __u32 *addr;`: a member that is a pointer. */
const POINTER_MEMBER = /^(?:const\s+)?(?:struct\s+)?[A-Za-z_]\w*\s*\*\s*[A-Za-z_]\w*;$/;

export class GlueHeaderError extends Error {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
  }
}

/**
 * Reads `files` (relative to `baseDir`) in order. Macros may use earlier ones and `known`
 * constants (the policy's REASON_COUNT); struct members may be structs of earlier headers or
 * `knownStructs`. Every `_Static_assert` on a size or an offset is checked against the layout.
 */
export function readGlueHeaders(
  files: readonly string[], baseDir: string, known: ReadonlyMap<string, number>, knownStructs: readonly KnownStruct[],
): GlueDeclarations {
  const values = new Map(known);
  const structs = new Map<string, KnownStruct & Partial<GlueStruct>>(knownStructs.map((s) => [s.cName, s]));
  const result: GlueDeclarations = { constants: [], structs: [] };
  for (const file of files) {
    const text = readFileSync(path.join(baseDir, file), 'utf8');
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const define = /^#define\s+([A-Za-z_]\w*)(\s+(.*))?$/.exec(line);
      if (define) {
        const [, name, , rest] = define;
        const { code, comment } = splitComment(rest ?? '');
        if (code === '' || name!.endsWith('_H')) continue; // include guards, flags without a value
        const value = evaluate(code, values, file, i + 1);
        values.set(name!, value);
        if (name!.startsWith('MC_')) result.constants.push({ name: name!, value, comment, file });
        continue;
      }
      const open = /^struct\s+([A-Za-z_]\w*)\s*\{\s*$/.exec(line);
      if (open) {
        const end = lines.findIndex((l, j) => j > i && /^\};/.test(l));
        if (end < 0) throw new GlueHeaderError(file, i + 1, `struct ${open[1]}: no closing "};"`);
        const start = i;
        const body = lines.slice(start + 1, end);
        i = end;
        // A pointer member: working state of the programs (on their stack), never in a map or a
        // record the host reads. Left out, so a struct that embeds it stops generation.
        if (body.some((l) => POINTER_MEMBER.test(splitComment(l).code))) continue;
        const struct = readStruct(open[1]!, body, start + 2, file, values, structs, docAbove(lines, start));
        structs.set(struct.cName, struct);
        result.structs.push(struct);
        continue;
      }
      const assertion = /^_Static_assert\((.*),\s*"[^"]*"\);/.exec(line);
      if (assertion) checkAssertion(assertion[1]!, structs, values, file, i + 1);
    }
  }
  return result;
}

function splitComment(text: string): { code: string; comment: string } {
  const start = text.indexOf('/*');
  if (start < 0) return { code: text.trim(), comment: '' };
  const end = text.indexOf('*/', start);
  return { code: text.slice(0, start).trim(), comment: text.slice(start + 2, end < 0 ? undefined : end).trim() };
}

/** The `/* ... *\/` block directly above line `index`, as one line of text. */
function docAbove(lines: string[], index: number): string {
  const above: string[] = [];
  for (let j = index - 1; j >= 0 && /^\s*(\/\*|\*)/.test(lines[j]!); j--) above.unshift(lines[j]!);
  return above.map((l) => l.replace(/^\s*\/?\*+\/?/, '').replace(/\*\/\s*$/, '').trim()).filter(Boolean).join(' ');
}

function readStruct(
  cName: string, body: string[], firstLine: number, file: string, values: ReadonlyMap<string, number>,
  structs: ReadonlyMap<string, KnownStruct>, comment: string,
): GlueStruct {
  const fields: GlueField[] = [];
  let offset = 0;
  let align = 1;
  body.forEach((raw, k) => {
    const { code, comment: fieldComment } = splitComment(raw);
    if (code === '') return;
    const member = /^(struct\s+([A-Za-z_]\w*)|[A-Za-z_]\w*)\s+([A-Za-z_]\w*)(?:\[([^\]]+)\])?;$/.exec(code);
    if (!member) throw new GlueHeaderError(file, firstLine + k, `struct ${cName}: cannot read member "${code}" (fixed-width integers, char and structs only)`);
    const [, typeText, tag, name, countText] = member;
    let type: GlueFieldType;
    let size: number;
    let fieldAlign: number;
    if (tag) {
      const inner = structs.get(tag);
      if (!inner) throw new GlueHeaderError(file, firstLine + k, `struct ${cName}.${name}: struct ${tag} is not declared before it`);
      type = 'struct';
      size = inner.size;
      fieldAlign = inner.align;
    } else {
      const scalar = SCALARS[typeText!];
      if (!scalar) throw new GlueHeaderError(file, firstLine + k, `struct ${cName}.${name}: type ${typeText} is not one of ${Object.keys(SCALARS).join(', ')}`);
      type = scalar.type;
      size = scalar.size;
      fieldAlign = scalar.size;
    }
    const count = countText === undefined ? undefined : evaluate(countText, values, file, firstLine + k);
    offset = roundUp(offset, fieldAlign);
    align = Math.max(align, fieldAlign);
    fields.push({ name: name!, type, ...(tag ? { struct: tag } : {}), offset, ...(count === undefined ? {} : { count }), comment: fieldComment });
    offset += size * (count ?? 1);
  });
  return { cName, file, size: roundUp(offset, align), align, fields, comment };
}

function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** `sizeof(struct x) == N` and `__builtin_offsetof(struct x, f) == N`, against the layout read. */
function checkAssertion(text: string, structs: ReadonlyMap<string, KnownStruct & Partial<GlueStruct>>, values: ReadonlyMap<string, number>, file: string, line: number): void {
  const size = /^sizeof\(struct\s+(\w+)\)\s*==\s*(.+)$/.exec(text.trim());
  const offset = /^__builtin_offsetof\(struct\s+(\w+),\s*(\w+)\)\s*==\s*(.+)$/.exec(text.trim());
  if (size) {
    const struct = structs.get(size[1]!);
    if (!struct) throw new GlueHeaderError(file, line, `_Static_assert on struct ${size[1]}, which the reader does not know`);
    const expected = evaluate(size[2]!, values, file, line);
    if (struct.size !== expected) throw new GlueHeaderError(file, line, `struct ${size[1]}: the reader computes ${struct.size} bytes, the header asserts ${expected}`);
  } else if (offset) {
    const field = structs.get(offset[1]!)?.fields?.find((f) => f.name === offset[2]);
    if (!field) throw new GlueHeaderError(file, line, `_Static_assert on ${offset[1]}.${offset[2]}, which the reader does not know`);
    const expected = evaluate(offset[3]!, values, file, line);
    if (field.offset !== expected) throw new GlueHeaderError(file, line, `${offset[1]}.${offset[2]}: the reader computes offset ${field.offset}, the header asserts ${expected}`);
  }
}

/** An integer constant expression: literals, known names, ( ), unary -, ~ and + - * / % << >> & | ^. */
export function evaluate(text: string, names: ReadonlyMap<string, number>, file: string, line: number): number {
  const tokens = text.match(/0[xX][0-9a-fA-F]+|\d+|[A-Za-z_]\w*|<<|>>|\S/g) ?? [];
  let at = 0;
  const fail = (why: string): never => {
    throw new GlueHeaderError(file, line, `cannot evaluate "${text}": ${why}`);
  };
  const LEVELS = [['|'], ['^'], ['&'], ['<<', '>>'], ['+', '-'], ['*', '/', '%']];
  const binary = (level: number): bigint => {
    if (level === LEVELS.length) return unary();
    let left = binary(level + 1);
    while (at < tokens.length && LEVELS[level]!.includes(tokens[at]!)) {
      const op = tokens[at++]!;
      const right = binary(level + 1);
      switch (op) {
        case '|': left |= right; break;
        case '^': left ^= right; break;
        case '&': left &= right; break;
        case '<<': left <<= right; break;
        case '>>': left >>= right; break;
        case '+': left += right; break;
        case '-': left -= right; break;
        case '*': left *= right; break;
        case '/': if (right === 0n) fail('division by zero'); left /= right; break;
        case '%': if (right === 0n) fail('division by zero'); left %= right; break;
      }
    }
    return left;
  };
  const unary = (): bigint => {
    const token = tokens[at++];
    if (token === undefined) return fail('unexpected end');
    if (token === '(') {
      const value = binary(0);
      if (tokens[at++] !== ')') fail('missing )');
      return value;
    }
    if (token === '-') return -unary();
    if (token === '~') return ~unary();
    if (/^(0[xX][0-9a-fA-F]+|\d+)$/.test(token)) {
      if (/^[uUlL]+$/.test(tokens[at] ?? '')) at++; // 1u, 1ULL
      return BigInt(token);
    }
    if (/^[A-Za-z_]/.test(token)) {
      const value = names.get(token);
      if (value === undefined) fail(`${token} is not a known constant`);
      return BigInt(value!);
    }
    return fail(`unexpected "${token}"`);
  };
  const value = binary(0);
  if (at !== tokens.length) fail(`unexpected "${tokens[at]}"`);
  return Number(value);
}
