// YAML text to ManifestDocs with the `yaml` package: one per document, with its starting line and
// a locator for field lines. A document that cannot be read (a syntax error, an unresolved alias,
// a duplicate key, too many aliases) becomes a document with `error` set; the others still load.
// Every step is linear in the size of the text: the duplicate-key check is ours (one set per
// mapping) because the package's own compares each key with every earlier one.

import { isAlias, isScalar, LineCounter, parseAllDocuments, visit, type Document, type Node } from 'yaml';
import type { FieldPath, ManifestDoc } from './manifest-doc.ts';

export type { ManifestDoc } from './manifest-doc.ts';

/** Aliases a document may expand: enough for anchors in real manifests, not for a "billion laughs". */
const MAX_ALIAS_COUNT = 100;
/** `<<` merges mappings, as kubectl's YAML reader (go-yaml) does. */
const MERGE_KEY = '<<';

/** Every non-empty document of `text` (YAML or JSON); `file` names it in diagnostics. Never throws. */
export function parseManifests(text: string, file: string): ManifestDoc[] {
  const lines = new LineCounter();
  let documents: Document.Parsed[];
  try {
    const parsed = parseAllDocuments(text, { lineCounter: lines, ...YAML_OPTIONS });
    documents = Array.isArray(parsed) ? parsed : [];
  } catch (error) {
    return [{ file, doc: -1, error: `cannot parse: ${firstLine((error as Error).message)}` }];
  }
  return documents.flatMap((document, index) => toManifestDoc(document, index, file, lines));
}

function toManifestDoc(document: Document.Parsed, index: number, file: string, lines: LineCounter): ManifestDoc[] {
  const start = document.contents?.range[0] ?? document.range[0];
  const line = lines.linePos(start).line;
  if (document.contents === null && document.errors.length === 0) return [];
  const read = documentValue(document);
  if ('message' in read) {
    return [{ file, doc: index, line: read.offset === undefined ? line : lines.linePos(read.offset).line, error: read.message }];
  }
  if (read.value === null || read.value === undefined) return [];
  return [{ file, doc: index, line, object: read.value, locate: locator(document, lines) }];
}

/**
 * The plain value of a parsed YAML document, or why it has none: a syntax error, a duplicate key,
 * an alias without its anchor, too many aliases. `offset` is where the problem is, when known.
 * Shared with the policy test file reader.
 */
export function documentValue(document: Document.Parsed): { value: unknown } | { message: string; offset?: number } {
  const [error] = document.errors;
  if (error) return { message: `YAML syntax error: ${firstLine(error.message)}`, offset: error.pos[0] };
  const keyProblem = firstKeyProblem(document);
  if (keyProblem) return keyProblem;
  const unresolved = firstUnresolvedAlias(document);
  if (unresolved) return { message: `YAML error: alias *${unresolved.name} names no anchor defined before it`, offset: unresolved.offset };
  try {
    return { value: document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch (failure) {
    return { message: `YAML error: ${firstLine((failure as Error).message)}` };
  }
}

/** Options for reading untrusted YAML: duplicate keys are checked by documentValue, in linear time. */
export const YAML_OPTIONS = { prettyErrors: false, uniqueKeys: false, merge: true } as const;

/**
 * The first key written twice in one mapping (merge keys aside), or the first key that is a
 * mapping or a list (JSON, and so Kubernetes, has string keys only), with its offset.
 */
function firstKeyProblem(document: Document.Parsed): { message: string; offset: number } | undefined {
  let found: { message: string; offset: number } | undefined;
  visit(document, {
    Map(_, map) {
      const keys = new Set<string>();
      for (const pair of map.items) {
        const offset = (pair.key as Node | null)?.range?.[0] ?? 0;
        const scalarObject = isScalar(pair.key) && pair.key.value !== null && typeof pair.key.value === 'object'; // !!binary
        if (scalarObject || (pair.key !== null && typeof pair.key === 'object' && !isScalar(pair.key) && !isAlias(pair.key))) {
          found = { message: 'YAML error: a mapping key is a mapping, a list or binary data; keys must be strings', offset };
          return visit.BREAK;
        }
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key === undefined || key === MERGE_KEY) continue;
        if (keys.has(key)) {
          found = { message: `YAML error: duplicate key ${JSON.stringify(key)} in one mapping`, offset };
          return visit.BREAK;
        }
        keys.add(key);
      }
      return undefined;
    },
  });
  return found;
}

/** The first alias whose anchor is not defined before it (one pass, anchors in document order). */
function firstUnresolvedAlias(document: Document.Parsed): { name: string; offset: number } | undefined {
  const anchors = new Set<string>();
  let found: { name: string; offset: number } | undefined;
  visit(document, (_, node) => {
    if (isAlias(node)) {
      if (anchors.has(node.source)) return undefined;
      found = { name: node.source, offset: node.range?.[0] ?? 0 };
      return visit.BREAK;
    }
    const anchor = (node as { anchor?: string } | null)?.anchor;
    if (anchor) anchors.add(anchor);
    return undefined;
  });
  return found;
}

function locator(document: Document.Parsed, lines: LineCounter) {
  return (path: FieldPath): number | undefined => {
    let node: unknown;
    try {
      node = path.length === 0 ? document.contents : document.getIn(path, true);
    } catch {
      return undefined;
    }
    const range = isRanged(node) && !isAlias(node) ? node.range : undefined;
    return range ? lines.linePos(range[0]).line : undefined;
  };
}

function isRanged(node: unknown): node is { range: [number, number, number] } {
  return typeof node === 'object' && node !== null && Array.isArray((node as { range?: unknown }).range);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
