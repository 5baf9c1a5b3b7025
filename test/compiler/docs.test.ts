// docs/policy-subset.md shows AssemblyScript modules followed by the C the generator emits for
// them: each pair must still hold, and every diagnostic code must be in the doc's table.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DIAGNOSTIC_CODES, formatCompilerDiagnostic, generateC } from '../../src/compiler/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const doc = fs.readFileSync(path.join(root, 'docs/policy-subset.md'), 'utf8');

/** Each ```ts block directly followed by a ```c block. */
function examples(): Array<{ ts: string; c: string; line: number }> {
  const out: Array<{ ts: string; c: string; line: number }> = [];
  const re = /```ts\n((?:(?!```)[\s\S])*)```\s*```c\n((?:(?!```)[\s\S])*)```/g;
  for (let m = re.exec(doc); m; m = re.exec(doc)) {
    out.push({ ts: m[1], c: m[2].trim(), line: doc.slice(0, m.index).split('\n').length });
  }
  return out;
}

const docs = suite('docs/policy-subset.md');

docs('has an example per construct', () => {
  assert.ok(examples().length >= 10, `found ${examples().length} examples`);
});

for (const ex of examples()) {
  docs(`the example at line ${ex.line} still translates as shown`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-doc-'));
    try {
      fs.writeFileSync(path.join(dir, 'policy.ts'), ex.ts);
      const result = generateC({
        entry: path.join(dir, 'policy.ts'), assemblyDir: path.join(root, 'assembly'), baseDir: dir, builtins: false, requireDecide: false,
      });
      assert.equal(result.diagnostics.map(formatCompilerDiagnostic), []);
      assert.ok(result.code.includes(ex.c), `generated:\n${result.code}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

docs('lists every diagnostic code', () => {
  for (const [code, title] of Object.entries(DIAGNOSTIC_CODES)) {
    assert.match(doc, new RegExp(`\\| ${code} \\| ${title} \\|`), `${code} ${title}`);
  }
});

docs.run();
