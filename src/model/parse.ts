// YAML text to ManifestDocs with the `yaml` package: one per document, with its starting line and
// a locator for field lines. Syntax errors become documents with `error` set.

import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { FieldPath, ManifestDoc } from './manifest-doc.ts';

export type { ManifestDoc } from './manifest-doc.ts';

/** Every non-empty document of `text` (YAML or JSON); `file` names it in diagnostics. */
export function parseManifests(text: string, file: string): ManifestDoc[] {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const documents = Array.isArray(parsed) ? parsed : [];
  return documents.flatMap((document, index) => toManifestDoc(document, index, file, lines));
}

function toManifestDoc(document: Document.Parsed, index: number, file: string, lines: LineCounter): ManifestDoc[] {
  const start = document.contents?.range[0] ?? document.range[0];
  const line = lines.linePos(start).line;
  const [error] = document.errors;
  if (error) {
    const errorLine = lines.linePos(error.pos[0]).line;
    return [{ file, doc: index, line: errorLine, error: `YAML syntax error: ${firstLine(error.message)}` }];
  }
  if (document.contents === null) return [];
  const object: unknown = document.toJS({ maxAliasCount: 100 });
  if (object === null || object === undefined) return [];
  return [{ file, doc: index, line, object, locate: locator(document, lines) }];
}

function locator(document: Document.Parsed, lines: LineCounter) {
  return (path: FieldPath): number | undefined => {
    const node = path.length === 0 ? document.contents : document.getIn(path, true);
    const range = isRanged(node) ? node.range : undefined;
    return range ? lines.linePos(range[0]).line : undefined;
  };
}

function isRanged(node: unknown): node is { range: [number, number, number] } {
  return typeof node === 'object' && node !== null && Array.isArray((node as { range?: unknown }).range);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

