// docs/support.md against the code: its tables are the declarations in src/model/support.ts and
// src/model/objects.ts, and those declarations are what the model really reads, watched field by
// field on a manifest that holds every listed field (test/model/support/corpus.yaml).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { EVERY_KIND, FIELD_SUPPORT, FILTER_SUPPORT, type FieldSupport } from '../../src/model/support.ts';
import { IGNORED_KINDS, UNREAD_KINDS } from '../../src/model/objects.ts';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { fieldsRead } from './support/record.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const doc = readFileSync(`${ROOT}docs/support.md`, 'utf8');
const corpusFile = `${ROOT}test/model/support/corpus.yaml`;
const corpus = readFileSync(corpusFile, 'utf8');

/** The table rows (cells, trimmed) of the section that starts with `heading`, until the next `## `. */
function rows(heading: string): { section: string; cells: string[] }[] {
  const lines = doc.split('\n');
  const start = lines.indexOf(heading);
  assert.ok(start >= 0, `docs/support.md has "${heading}"`);
  const out: { section: string; cells: string[] }[] = [];
  let section = '';
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('## ')) break;
    if (line.startsWith('### ')) section = line.slice(4);
    if (!line.startsWith('|') || /^\|[-| ]+\|$/.test(line)) continue;
    out.push({ section, cells: line.slice(1, -1).split('|').map((cell) => cell.trim()) });
  }
  return out;
}

/** Rows without their header row (the first row of each table). */
function bodyRows(heading: string, header: string): { section: string; cells: string[] }[] {
  return rows(heading).filter((row) => row.cells[0] !== header);
}

const docs = suite('docs/support.md lists what the code declares');

docs('the field tables are FIELD_SUPPORT, row for row', () => {
  const listed = bodyRows('## Fields', 'field').map(({ section, cells }) => ({ kind: section, field: cells[0]!.replace(/^`|`$/g, ''), status: cells[1], note: cells[2] }));
  assert.equal(listed, FIELD_SUPPORT.map((f) => ({ kind: f.kind, field: f.field, status: f.status, note: f.note })));
});

docs('the filter table is FILTER_SUPPORT', () => {
  const listed = bodyRows('## HTTPRoute filters', 'filter type').map(({ cells }) => cells);
  assert.equal(listed, Object.entries(FILTER_SUPPORT).map(([type, s]) => [type, s.simulate ? 'applied' : 'reported', s.live ? 'applied' : 'reported']));
});

docs('the kind tables are IGNORED_KINDS and UNREAD_KINDS', () => {
  const kindRows = bodyRows('## Kinds', 'API group').filter(({ cells }) => cells[0] !== 'kind');
  const ignored = kindRows.filter(({ cells }) => !Object.hasOwn(UNREAD_KINDS, cells[0]!)).map(({ cells }) => cells);
  const unread = kindRows.filter(({ cells }) => Object.hasOwn(UNREAD_KINDS, cells[0]!)).map(({ cells }) => cells);
  assert.equal(ignored, Object.entries(IGNORED_KINDS).map(([group, kinds]) => [group || '(core)', Object.keys(kinds).join(', ')]));
  assert.equal(unread, Object.entries(UNREAD_KINDS));
});

const code = suite('FIELD_SUPPORT is what the model reads');

const kindsOf = (row: FieldSupport) => (row.kind === EVERY_KIND ? undefined : row.kind.split(', '));
const forKind = (row: FieldSupport, kind: string) => kindsOf(row)?.includes(kind) ?? true;
const reads = fieldsRead([{ text: corpus, file: corpusFile }]);
const parsedCorpus = parseAllDocuments(corpus).map((d) => d.toJS() as Record<string, unknown>);

/** Whether some corpus object of one of the row's kinds holds the field, so that a read of it was possible. */
function present(row: FieldSupport): boolean {
  const walk = (value: unknown, parts: string[]): boolean => {
    if (parts.length === 0) return value !== undefined;
    const [head, ...tail] = parts;
    if (head === '[]' || head === '*') {
      const items = Array.isArray(value) ? value : value && typeof value === 'object' ? Object.values(value) : [];
      return items.some((item) => walk(item, tail));
    }
    return value !== null && typeof value === 'object' && walk((value as Record<string, unknown>)[head!], tail);
  };
  const parts = row.field.replace(/\[\]/g, '.[]').split('.').filter(Boolean);
  return parsedCorpus.some((object) => forKind(row, String(object['kind'])) && walk(object, parts));
}

code('every field the model reads is listed (or lies under a reported one)', () => {
  const unlisted = [...reads].filter((entry) => {
    const [kind, path] = entry.split(': ') as [string, string];
    return !FIELD_SUPPORT.some((row) =>
      row.status !== 'ignored' && forKind(row, kind) &&
      (row.field === path || row.field.startsWith(`${path}.`) || row.field.startsWith(`${path}[]`) || (row.status === 'reported' && path.startsWith(row.field))),
    );
  });
  assert.equal(unlisted, []);
});

code('every field listed as applied, read or reported is in the corpus and read', () => {
  const unread = FIELD_SUPPORT.filter((row) => row.status !== 'ignored').filter((row) => {
    assert.ok(present(row), `the corpus holds ${row.kind}: ${row.field}`);
    return ![...reads].some((entry) => {
      const [kind, path] = entry.split(': ') as [string, string];
      return forKind(row, kind) && path === row.field;
    });
  });
  assert.equal(unread.map((row) => `${row.kind}: ${row.field}`), []);
});

code('no field listed as ignored is read, though the corpus holds each one', () => {
  for (const row of FIELD_SUPPORT.filter((r) => r.status === 'ignored')) {
    assert.ok(present(row), `the corpus holds ${row.kind}: ${row.field}`);
    const read = [...reads].filter((entry) => {
      const [kind, path] = entry.split(': ') as [string, string];
      return forKind(row, kind) && (path === row.field || path.startsWith(`${row.field}.`) || path.startsWith(`${row.field}[]`));
    });
    assert.equal(read, [], `${row.kind}: ${row.field}`);
  }
});

code('every field listed as reported gets a warning at that field', () => {
  const model = buildModel(parseManifests(corpus, corpusFile));
  const warned = new Set(model.diagnostics.filter((d) => d.severity === 'warning').map((d) => `${d.kind}: ${(d.field ?? '').replace(/\[\d+\]/g, '[]')}`));
  for (const row of FIELD_SUPPORT.filter((r) => r.status === 'reported')) {
    const kinds = kindsOf(row) ?? [];
    assert.ok(kinds.some((kind) => [...warned].some((w) => w === `${kind}: ${row.field}` || w.startsWith(`${kind}: ${row.field.replace(/\[\]$/, '')}[]`))), `${row.kind}: ${row.field} (warnings: ${[...warned].join('; ')})`);
  }
  assert.equal(model.diagnostics.filter((d) => d.severity === 'error'), [], 'the corpus has no errors');
});

docs.run();
code.run();
