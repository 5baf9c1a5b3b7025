// Integer semantics of the generated C against WebAssembly: every export of
// fixtures/compiler/arithmetic.ts runs through asc (Wasm) and through the generator + clang
// (native, with UBSan trapping on any undefined behaviour) on the same inputs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateC, formatCompilerDiagnostic } from '../../src/compiler/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const fixture = path.join(root, 'fixtures/compiler/arithmetic.ts');

interface Signature {
  name: string;
  cName: string;
  params: string[];
  ret: string;
}

const WIDTH: Record<string, { bits: number; signed: boolean }> = {
  u8: { bits: 8, signed: false }, u16: { bits: 16, signed: false }, u32: { bits: 32, signed: false }, u64: { bits: 64, signed: false },
  i8: { bits: 8, signed: true }, i16: { bits: 16, signed: true }, i32: { bits: 32, signed: true }, i64: { bits: 64, signed: true },
  bool: { bits: 1, signed: false },
};

function normalize(v: bigint, type: string): bigint {
  const w = WIDTH[type];
  if (type === 'bool') return v & 1n;
  return w.signed ? BigInt.asIntN(w.bits, v) : BigInt.asUintN(w.bits, v);
}

/** Values where wrapping, masking and sign handling show: edges of every width, plus random ones. */
function pool(type: string): bigint[] {
  if (type === 'bool') return [0n, 1n];
  const { bits, signed } = WIDTH[type];
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const edges = [0n, 1n, 2n, 3n, 7n, 8n, 9n, 15n, 16n, 17n, 31n, 32n, 33n, 63n, 64n, 65n, 127n, 128n, 255n, 256n,
    65535n, 65536n, 70000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, max, max - 1n, min, min + 1n, -1n, -2n, -33n];
  return [...new Set(edges.map((v) => normalize(v, type)))];
}

function signatures(): Signature[] {
  const sf = ts.createSourceFile(fixture, fs.readFileSync(fixture, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: Signature[] = [];
  for (const s of sf.statements) {
    if (!ts.isFunctionDeclaration(s) || !s.name) continue;
    const snake = s.name.text.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
    out.push({ name: s.name.text, cName: `mc_${snake}`, params: s.parameters.map((p) => p.type!.getText()), ret: s.type!.getText() });
  }
  return out;
}

/** Deterministic input tuples: every pool value in each position, then seeded random mixes. */
function inputs(sig: Signature): bigint[][] {
  let state = 0x9e3779b9;
  const next = () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state;
  };
  const pools = sig.params.map(pool);
  const rows: bigint[][] = [];
  for (let i = 0; i < 400; i++) {
    rows.push(pools.map((p, k) => {
      if (next() % 4 === 0) {
        const r = (BigInt(next()) << 32n) | BigInt(next());
        return normalize(r, sig.params[k]);
      }
      return p[next() % p.length];
    }));
  }
  return rows;
}

const semantics = suite('generated C keeps WebAssembly integer semantics');

semantics('every export of arithmetic.ts gives the same result in Wasm and in C', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-semantics-'));
  try {
    const wasmPath = path.join(dir, 'arithmetic.wasm');
    execFileSync(process.execPath, [path.join(root, 'node_modules/assemblyscript/bin/asc.js'), fixture,
      '-o', wasmPath, '-O3', '--runtime', 'stub'], { cwd: root, stdio: 'pipe' });
    const wasm = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(wasmPath)), {
      env: { abort: () => { throw new Error('abort'); } },
    });
    const exports = wasm.exports as Record<string, (...args: unknown[]) => number | bigint>;

    const generated = generateC({ entry: fixture, baseDir: root, builtins: false, requireDecide: false });
    assert.equal(generated.diagnostics.map(formatCompilerDiagnostic), []);
    fs.writeFileSync(path.join(dir, 'generated.h'), generated.code);

    const sigs = signatures();
    assert.ok(sigs.length >= 40, `expected the fixture's functions, got ${sigs.length}`);
    const expected: string[] = [];
    const driver: string[] = ['#include <stdio.h>', '#include "generated.h"', 'int main(void)', '{'];
    for (const sig of sigs) {
      const fn = exports[sig.name];
      assert.type(fn, 'function', `Wasm export ${sig.name}`);
      const rows = inputs(sig).filter((row) => {
        try {
          const args = row.map((v, k) => (WIDTH[sig.params[k]].bits === 64 ? v : Number(v)));
          const r = fn(...args);
          expected.push(`${sig.name}(${row.join(', ')}) = ${normalize(BigInt(r), sig.ret)}`);
          return true;
        } catch (e) {
          if (e instanceof WebAssembly.RuntimeError) return false; // division by zero traps in Wasm
          throw e;
        }
      });
      const table = rows.map((row) => `{ ${row.map((v) => `${BigInt.asUintN(64, v)}ULL`).join(', ')} }`).join(',\n\t\t');
      driver.push(`\t{`, `\t\tstatic const unsigned long long rows[][${Math.max(sig.params.length, 1)}] = {\n\t\t${table}\n\t\t};`);
      driver.push(`\t\tfor (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)`);
      const args = sig.params.map((p, k) => `(${p === 'bool' ? '__u8' : (WIDTH[p].signed ? '__s' : '__u') + WIDTH[p].bits})rows[i][${k}]`);
      driver.push(`\t\t\tprintf("%llu\\n", (unsigned long long)${sig.cName}(${args.join(', ')}));`, '\t}');
    }
    driver.push('\treturn 0;', '}', '');
    fs.writeFileSync(path.join(dir, 'driver.c'), driver.join('\n'));
    execFileSync('clang-19', ['-O2', '-Wall', '-Werror', '-Wno-unused-function', '-fsanitize=undefined', '-fsanitize-trap=undefined',
      '-o', path.join(dir, 'driver'), path.join(dir, 'driver.c')], { stdio: 'pipe' });
    const printed = execFileSync(path.join(dir, 'driver'), { encoding: 'utf8' }).trim().split('\n');
    assert.is(printed.length, expected.length, 'one C result per Wasm result');
    const mismatches: string[] = [];
    expected.forEach((line, i) => {
      const name = line.slice(0, line.indexOf('('));
      const sig = sigs.find((s) => s.name === name)!;
      const c = normalize(BigInt(printed[i]), sig.ret);
      if (!line.endsWith(` = ${c}`)) mismatches.push(`${line}, C gives ${c}`);
    });
    assert.equal(mismatches.slice(0, 10), [], `${mismatches.length} results differ`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

semantics.run();
