// `meshc compile --policy PATH` with a path that is not a policy file: one clear line and exit 1,
// never a stack trace, and nothing written (a newline in the name never reaches generated C).
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { callMeshc } from '../helpers/meshc.ts';

const policyPath = suite('meshc compile --policy: bad paths');

const DECIDE = 'export function decide(): u8 { return 0; }\n';
const cases: { description: string; make: (dir: string) => string; expect: (given: string) => string }[] = [
  { description: 'a directory', make: (dir) => (mkdirSync(path.join(dir, 'policies')), path.join(dir, 'policies')), expect: (given) => `meshc compile: --policy ${given}: is a directory; give the policy's .ts file` },
  { description: 'a missing file', make: (dir) => path.join(dir, 'missing.ts'), expect: (given) => `meshc compile: --policy ${given}: no such file` },
  {
    description: 'a newline in the file name',
    make: (dir) => {
      const file = path.join(dir, 'evil\n#error pasted\n.ts');
      writeFileSync(file, DECIDE);
      return file;
    },
    expect: (given) => `meshc compile: --policy ${JSON.stringify(given)}: the file name contains a control character (a newline?); rename the file`,
  },
];

for (const { description, make, expect } of cases) {
  policyPath(description, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'meshc-policy-path-'));
    try {
      const given = make(dir);
      const out = path.join(dir, 'out');
      const r = await callMeshc('compile', '--policy', given, '--out', out, '--no-wasm');
      assert.is(r.status, 1, r.stderr);
      assert.is(r.stderr.trim(), expect(given));
      assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
      assert.not.ok(existsSync(path.join(out, 'meshc.bpf.c')), 'nothing generated');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

policyPath.run();
