// Coded diagnostics of the policy generator: every construct outside the translatable subset is
// reported at its source position with a reason and a hint, and checking goes on.
import ts from 'typescript';

export interface CompilerDiagnostic {
  code: DiagnosticCode;
  /** Path of the source file, relative to the generator's base directory. */
  file: string;
  /** 1-based line and column. */
  line: number;
  col: number;
  message: string;
  hint: string;
}

/** Every diagnostic code with a one-line title (docs/policy-subset.md has the full table). */
export const DIAGNOSTIC_CODES = {
  MC1001: 'unsupported syntax',
  MC1002: 'unbounded loop',
  MC1003: 'recursion',
  MC1004: 'heap allocation',
  MC1005: 'string',
  MC1006: 'floating point',
  MC1007: 'unchecked map lookup',
  MC1008: 'unknown call',
  MC1009: 'any',
  MC1010: 'mutable global',
  MC1011: 'class instance source',
  MC1012: 'layout',
  MC1013: 'module',
  MC1014: 'entry',
  MC1015: 'type',
  MC1016: 'stackalloc',
  MC1017: 'signed division',
  MC1018: 'evaluation order',
  MC1019: 'name clash',
  MC1020: 'map declaration',
  MC1021: 'constant',
} as const;

export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;

/** `policy.ts:12:5: error MC1003: recursion: decide calls itself (hint: ...)` */
export function formatCompilerDiagnostic(d: CompilerDiagnostic): string {
  const hint = d.hint ? ` (hint: ${d.hint})` : '';
  return `${d.file}:${d.line}:${d.col}: error ${d.code}: ${d.message}${hint}`;
}

/** Collects diagnostics; a source file's relative path is looked up through `fileName`. */
export class DiagnosticSink {
  readonly list: CompilerDiagnostic[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly fileName: (sf: ts.SourceFile) => string) {}

  /** Reports at the start of `node` (leading trivia skipped). */
  at(node: ts.Node, code: DiagnosticCode, message: string, hint: string): void {
    const sf = node.getSourceFile();
    const pos = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    this.add({ code, file: this.fileName(sf), line: pos.line + 1, col: pos.character + 1, message, hint });
  }

  /** Reports at a character position of a file (a syntax error has no node). */
  atPosition(sf: ts.SourceFile, pos: number, code: DiagnosticCode, message: string, hint: string): void {
    const lc = sf.getLineAndCharacterOfPosition(pos);
    this.add({ code, file: this.fileName(sf), line: lc.line + 1, col: lc.character + 1, message, hint });
  }

  /** Reports at a file without a node (a missing module or entry), at line 1 column 1. */
  atFile(file: string, code: DiagnosticCode, message: string, hint: string): void {
    this.add({ code, file, line: 1, col: 1, message, hint });
  }

  private add(d: CompilerDiagnostic): void {
    // One construct can be reached twice (a function checked from two call paths): report once.
    const key = `${d.file}:${d.line}:${d.col}:${d.code}:${d.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push(d);
  }

  /** Diagnostics in file, line, column order: stable output whatever order checks ran in. */
  sorted(): CompilerDiagnostic[] {
    return [...this.list].sort((a, b) =>
      a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.col - b.col || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  }
}
