// User policies (meshc compile --policy FILE): the example in fixtures/policies/ goes through the
// generator without diagnostics and through asc as the entry of policy.wasm, the way the Wasm
// build swaps assembly/entry.ts for one that re-exports the user's decide.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatCompilerDiagnostic, generateC, resolvePolicyImports } from '../../src/compiler/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const policiesDir = path.join(root, 'fixtures/policies');
const policies = fs.readdirSync(policiesDir).filter((f) => f.endsWith('.ts')).sort();

const userPolicy = suite('user policies');

userPolicy('resolvePolicyImports makes meshc/ specifiers relative to where the file is compiled', () => {
  const src = 'import { decideWith } from "meshc/policy";\nimport { X } from \'meshc/runtime/stack\';\nimport { y } from "./local";\n';
  assert.is(resolvePolicyImports(src, '/w/assembly', '/w/assembly'),
    'import { decideWith } from "./policy";\nimport { X } from \'./runtime/stack\';\nimport { y } from "./local";\n');
  assert.is(resolvePolicyImports(src, '/w/tmp', '/w/assembly').split('\n')[0], 'import { decideWith } from "../assembly/policy";');
});

for (const file of policies) {
  userPolicy(`${file}: generates C without diagnostics, reusing the built-in pieces`, () => {
    const result = generateC({ entry: path.join(policiesDir, file), baseDir: root });
    assert.equal(result.diagnostics.map(formatCompilerDiagnostic), []);
    assert.match(result.code, /static __always_inline __u8 mc_decide\(struct service_key \*key, __u64 client, __u32 rand, __u64 now, struct decision \*out\)/);
    assert.match(result.code.split('\n')[0], new RegExp(`fixtures/policies/${file.replace('.', '\\.')}`));
  });

  userPolicy(`${file}: compiles with asc as the entry of policy.wasm`, () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-user-policy-'));
    try {
      const asm = path.join(tmp, 'assembly');
      fs.cpSync(path.join(root, 'assembly'), asm, { recursive: true });
      const source = fs.readFileSync(path.join(policiesDir, file), 'utf8');
      fs.writeFileSync(path.join(asm, 'user-policy.ts'), resolvePolicyImports(source, asm, asm));
      fs.writeFileSync(path.join(asm, 'entry.ts'), 'export { decide } from "./user-policy";\n');
      try {
        execFileSync(process.execPath, [path.join(root, 'node_modules/assemblyscript/bin/asc.js'), path.join(asm, 'index.ts'),
          '-o', path.join(tmp, 'policy.wasm'), '-O3', '--runtime', 'incremental', '--exportRuntime'], { cwd: root, stdio: 'pipe' });
      } catch (e) {
        assert.unreachable(`asc rejected ${file}:\n${(e as { stderr?: Buffer }).stderr?.toString()}`);
      }
      const module = new WebAssembly.Module(fs.readFileSync(path.join(tmp, 'policy.wasm')));
      assert.ok(WebAssembly.Module.exports(module).some((x) => x.name === 'mc_decide'), 'policy.wasm exports mc_decide');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}

userPolicy.run();
