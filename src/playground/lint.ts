// Model diagnostics as editor ranges: each one underlines the line it names. Pure.

import type { Diagnostic } from '../model/types.ts';
import { printable } from '../model/diagnostics.ts';

export interface LineRange {
  from: number;
  to: number;
  line: number;
  severity: 'error' | 'warning';
  message: string;
}

/** Offsets of the start of every line of `text` (line 1 at index 0). */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

/** The message without the file and line (the editor shows where): `Service default/x: spec.ports[0].port: ...`. */
export function shortMessage(d: Diagnostic): string {
  const name = d.namespace ? `${d.namespace}/${d.name ?? ''}` : d.name ?? '';
  const subject = printable([d.kind, name].filter(Boolean).join(' '));
  return [subject, d.field, d.message].filter(Boolean).join(': ');
}

export interface LineItem {
  line?: number;
  severity: 'error' | 'warning';
  message: string;
}

/** One range per item, covering its line's text without indentation; items without a line go on line 1. */
export function lineRanges(text: string, items: readonly LineItem[]): LineRange[] {
  const starts = lineStarts(text);
  return items.map((item) => {
    const line = Math.min(Math.max(item.line ?? 1, 1), starts.length);
    const start = starts[line - 1]!;
    const end = line < starts.length ? starts[line]! - 1 : text.length;
    const indent = /^\s*/.exec(text.slice(start, end))![0].length;
    const from = Math.min(start + indent, end);
    return { from, to: Math.max(end, from), line, severity: item.severity, message: item.message };
  });
}

export function diagnosticRanges(text: string, diagnostics: readonly Diagnostic[]): LineRange[] {
  return lineRanges(text, diagnostics.map((d) => ({ line: d.line, severity: d.severity, message: shortMessage(d) })));
}
