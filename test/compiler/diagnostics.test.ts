// Diagnostics of the generator: one bad fixture per code under fixtures/compiler/diagnostics/,
// each marking where it expects a diagnostic with a comment /*!MC1xxx*/ placed just before the
// construct; the generator must report exactly those (code, line, column), and nothing else.
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DIAGNOSTIC_CODES, formatCompilerDiagnostic, generateC, type CompilerDiagnostic } from '../../src/compiler/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const dir = path.join(root, 'fixtures/compiler/diagnostics');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();

/** `MC1003 at 4:14` for every marker: the position just after the marker comment. */
function markers(text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(/\/\*!(MC\d{4})\*\//g)) out.push(`${m[1]} at ${i + 1}:${m.index! + m[0].length + 1}`);
  });
  return out.sort();
}

function run(file: string): CompilerDiagnostic[] {
  return generateC({
    entry: path.join(dir, file), baseDir: root, builtins: false, requireDecide: file.startsWith('MC1014'),
  }).diagnostics;
}

const diagnostics = suite('generator diagnostics');

diagnostics('every diagnostic code has a fixture named after it', () => {
  const covered = new Set(files.map((f) => f.slice(0, 6)));
  assert.equal(Object.keys(DIAGNOSTIC_CODES).filter((c) => !covered.has(c)), []);
});

for (const file of files) {
  diagnostics(`${file}: reports exactly the marked problems`, () => {
    const text = fs.readFileSync(path.join(dir, file), 'utf8');
    const expected = markers(text);
    const code = file.slice(0, 6);
    assert.ok(expected.some((m) => m.startsWith(code)), `${file} marks at least one ${code}`);
    const got = run(file);
    assert.equal(got.map((d) => `${d.code} at ${d.line}:${d.col}`).sort(), expected, got.map(formatCompilerDiagnostic).join('\n'));
    for (const d of got) {
      assert.is(d.file, `fixtures/compiler/diagnostics/${file}`);
      assert.ok(d.message.length > 0 && d.hint.length > 0, `${d.code} has a message and a hint`);
    }
  });
}

diagnostics('a failed run produces no C', () => {
  const result = generateC({ entry: path.join(dir, 'MC1003-recursion.ts'), baseDir: root, builtins: false, requireDecide: false });
  assert.ok(result.diagnostics.length > 0);
  assert.is(result.code, '');
});

diagnostics('formatCompilerDiagnostic: file:line:col: error CODE: message (hint: ...)', () => {
  const [d] = run('MC1017-signed-division.ts');
  assert.is(formatCompilerDiagnostic(d),
    'fixtures/compiler/diagnostics/MC1017-signed-division.ts:3:21: error MC1017: signed division (i32) (hint: BPF before CPU v4 (kernel 6.6) has no signed divide: use unsigned types)');
});

diagnostics('recursion names the functions of the cycle', () => {
  const messages = run('MC1003-recursion.ts').map((d) => d.message);
  assert.ok(messages.includes('recursion: fact calls itself'), messages.join('\n'));
  assert.ok(messages.some((m) => /even -> odd -> even|odd -> even -> odd/.test(m)), messages.join('\n'));
});

diagnostics('a missing entry file is reported, not thrown', () => {
  const result = generateC({ entry: path.join(dir, 'does-not-exist.ts'), baseDir: root });
  assert.equal(result.diagnostics.map((d) => d.code), ['MC1013']);
});

diagnostics.run();
