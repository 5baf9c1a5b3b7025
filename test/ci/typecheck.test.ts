// `npm run typecheck` is part of the suite: src/, test/, bench/ and bin/ type-check clean with the
// strict options the house keeps (noUnusedLocals, noUnusedParameters among them), so CI fails on an
// unused import or a type error as it fails on a broken test.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from '../kernel/env.ts';

const test = suite('typecheck');

test('tsconfig.json keeps the strict options and covers every source tree', () => {
  const config = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8'));
  for (const option of ['strict', 'noUnusedLocals', 'noUnusedParameters', 'noImplicitOverride', 'noFallthroughCasesInSwitch']) {
    assert.is(config.compilerOptions[option], true, option);
  }
  assert.equal([...config.include].sort(), ['bench', 'bin', 'src', 'test']);
});

test('tsc --noEmit finds nothing', () => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}`.split('\n').slice(0, 30).join('\n'));
});

test.run();
