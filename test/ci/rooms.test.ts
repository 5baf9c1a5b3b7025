// docs/architecture.md is the map of src/: its picture names every room, and its table says which
// rooms each one imports from. This test holds the code to that table, so an import that runs the
// wrong way (up the picture, or into a room the table does not name) fails here, and a new room
// cannot be added without a place in the picture.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from '../kernel/env.ts';

const DOC = 'docs/architecture.md';
/** The one room that may import from any other: the commands. */
const ANY = 'every shell and what they need';

/** Room name (`agent` for `src/agent/`) to the rooms it may import from; undefined means any. */
export function allowedImports(markdown: string): Map<string, Set<string> | undefined> {
  const rooms = new Map<string, Set<string> | undefined>();
  for (const line of markdown.split('\n')) {
    const row = /^\| `src\/([a-z0-9-]+)\/` \|[^|]*\| ([^|]*) \|$/.exec(line);
    if (!row) continue;
    const from = row[2]!.trim();
    if (from === ANY) rooms.set(row[1]!, undefined);
    else if (from === '—') rooms.set(row[1]!, new Set());
    else rooms.set(row[1]!, new Set(from.split(',').map((word) => word.trim().split(' ')[0]!)));
  }
  return rooms;
}

/** The module specifiers a source file imports (static, re-exported and dynamic). */
export function importSpecifiers(source: string): string[] {
  const out: string[] = [];
  for (const re of [/\bfrom\s+'([^']+)'/g, /\bimport\s+'([^']+)'/g, /\bimport\(\s*'([^']+)'\s*\)/g]) {
    for (const m of source.matchAll(re)) out.push(m[1]!);
  }
  return out;
}

/** For one file under src/: each relative import as [specifier, the src room it lands in, or `outside:DIR`]. */
export function importedRooms(file: string, source: string): [string, string][] {
  const out: [string, string][] = [];
  for (const spec of importSpecifiers(source)) {
    if (!spec.startsWith('.')) continue;
    const target = path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), spec)).split(path.sep);
    out.push([spec, target[0] === 'src' && target.length > 2 ? target[1]! : `outside:${target[0]}`]);
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(ROOT, dir)).sort()) {
    const rel = path.join(dir, name);
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (/\.(ts|mts|mjs|js)$/.test(name)) out.push(rel);
  }
  return out;
}

/** Every import that the table does not allow, as `file: specifier (room -> room)`. */
export function wrongImports(rooms: Map<string, Set<string> | undefined>, files: [string, string][]): string[] {
  const wrong: string[] = [];
  for (const [file, source] of files) {
    const room = file.split('/')[1]!;
    const allowed = rooms.get(room);
    for (const [spec, target] of importedRooms(file, source)) {
      if (target === room) continue;
      // Outside src/, only the build outputs and the policy source may be reached (wasm, asc types).
      if (target.startsWith('outside:')) {
        if (!['outside:build', 'outside:assembly', 'outside:package.json'].includes(target)) wrong.push(`${file}: ${spec} (${room} -> ${target})`);
        continue;
      }
      if (allowed !== undefined && !allowed.has(target)) wrong.push(`${file}: ${spec} (${room} -> ${target})`);
    }
  }
  return wrong;
}

const markdown = readFileSync(path.join(ROOT, DOC), 'utf8');
const rooms = allowedImports(markdown);
const srcRooms = readdirSync(path.join(ROOT, 'src')).filter((d) => statSync(path.join(ROOT, 'src', d)).isDirectory()).sort();

const test = suite(`${DOC}: the rooms of src/ and who imports whom`);

test('every room of src/ has a row in the table and a place in the picture; every row is a room', () => {
  assert.equal([...rooms.keys()].sort(), srcRooms);
  const picture = /```\n([\s\S]*?)```/.exec(markdown)![1]!;
  for (const room of srcRooms) assert.ok(picture.includes(`src/${room}/`), `src/${room}/ is not in the picture`);
});

test('every import in src/ runs to a room the table allows', () => {
  const files: [string, string][] = srcRooms.flatMap((room) => sourceFiles(path.join('src', room))).map((f) => [f, readFileSync(path.join(ROOT, f), 'utf8')]);
  assert.ok(files.length > 100, `${files.length} files`);
  assert.equal(wrongImports(rooms, files), []);
});

test('the check finds a wrong import: the model reaching up into the agent, src/ reaching into test/', () => {
  const files: [string, string][] = [
    ['src/model/x.ts', "import { a } from '../agent/y.ts';\nimport type { B } from './b.ts';\nexport { c } from '../generated/c.ts';"],
    ['src/sinks/x.ts', "const m = await import('../../test/helpers/meshc.ts');"],
    ['src/cli/x.ts', "import { a } from '../agent/y.ts';"],
  ];
  assert.equal(wrongImports(rooms, files), [
    'src/model/x.ts: ../agent/y.ts (model -> agent)',
    'src/sinks/x.ts: ../../test/helpers/meshc.ts (sinks -> outside:test)',
  ]);
});

test('the table reads as rooms and their imports', () => {
  assert.equal(rooms.get('text'), new Set());
  assert.equal(rooms.get('cli'), undefined);
  assert.ok(rooms.get('sinks')!.has('loader') && !rooms.get('sinks')!.has('agent'));
});

test.run();
