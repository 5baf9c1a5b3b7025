// readLayouts (the layout description the TypeScript codecs follow) against AssemblyScript
// itself: a probe module compiled by asc reports offsetof<T>(field), sizes, map ids, key and value
// sizes, max entries and constant values, which must equal what the generator read.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatCompilerDiagnostic, readLayouts } from '../../src/compiler/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const layouts = suite('readLayouts');

layouts('describes the built-in layouts, maps and constants without diagnostics', () => {
  const d = readLayouts('assembly', root);
  assert.equal(d.diagnostics.map(formatCompilerDiagnostic), []);
  const key = d.classes.find((c) => c.name === 'ServiceKey')!;
  assert.is(key.cName, 'service_key');
  assert.is(key.file, 'assembly/layouts.ts');
  assert.equal(key.fields.map((f) => f.name), ['addr', 'port', 'proto', 'family']);
  assert.equal(key.fields[0], { name: 'addr', type: 'u32', offset: 0, size: 16, count: 4, comment: key.fields[0]!.comment },
    'addr0 ... addr3 are the array addr[4]');
  const services = d.maps.find((m) => m.name === 'mc_services')!;
  assert.equal({ ...services }, {
    name: 'mc_services', kind: 'HashMap', bpfType: 'BPF_MAP_TYPE_HASH', key: 'ServiceKey', keySize: key.size,
    value: 'ServiceValue', valueSize: d.classes.find((c) => c.name === 'ServiceValue')!.size,
    maxEntries: { expression: 'MAX_SERVICES', value: d.constants.find((c) => c.name === 'MAX_SERVICES')!.value }, wasmId: 0,
  });
  assert.is(d.maps.find((m) => m.name === 'mc_backends')!.key, null);
  assert.is(d.maps.find((m) => m.name === 'mc_affinity')!.bpfType, 'BPF_MAP_TYPE_LRU_HASH');
});

layouts('agrees with asc on every offset, size, map and constant', () => {
  const d = readLayouts('assembly', root);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-layouts-'));
  try {
    const rel = path.relative(tmp, path.join(root, 'assembly')).split(path.sep).join('/');
    const probe: string[] = [
      `import { ${d.classes.map((c) => c.name).join(', ')} } from "${rel}/layouts";`,
      `import { ${d.maps.map((m) => m.name).join(', ')} } from "${rel}/maps";`,
      `import { ${d.constants.map((c) => c.name).join(', ')} } from "${rel}/constants";`,
    ];
    const expected: Record<string, bigint> = {};
    for (const c of d.classes) {
      probe.push(`export function size_${c.name}(): u64 { return <u64>offsetof<${c.name}>(); }`);
      expected[`size_${c.name}`] = BigInt(c.size);
      for (const f of c.fields) {
        // An array member is the AssemblyScript fields name0 ... name<count-1>.
        const elements = f.count === undefined ? [{ name: f.name, offset: f.offset }]
          : Array.from({ length: f.count }, (_, i) => ({ name: `${f.name}${i}`, offset: f.offset + (i * f.size) / f.count! }));
        for (const e of elements) {
          probe.push(`export function offset_${c.name}_${e.name}(): u64 { return <u64>offsetof<${c.name}>("${e.name}"); }`);
          expected[`offset_${c.name}_${e.name}`] = BigInt(e.offset);
        }
      }
    }
    for (const m of d.maps) {
      for (const [prop, value] of [['id', m.wasmId], ['keySize', m.keySize], ['valueSize', m.valueSize], ['maxEntries', m.maxEntries.value]] as const) {
        probe.push(`export function map_${m.name}_${prop}(): u64 { return <u64>${m.name}.${prop}; }`);
        expected[`map_${m.name}_${prop}`] = BigInt(value!);
      }
    }
    for (const c of d.constants) {
      probe.push(`export function const_${c.name}(): i64 { return <i64>${c.name}; }`);
      expected[`const_${c.name}`] = BigInt(c.value!);
    }
    fs.writeFileSync(path.join(tmp, 'probe.ts'), probe.join('\n'));
    execFileSync(process.execPath, [path.join(root, 'node_modules/assemblyscript/bin/asc.js'), path.join(tmp, 'probe.ts'),
      '-o', path.join(tmp, 'probe.wasm'), '--runtime', 'stub'], { cwd: root, stdio: 'pipe' });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(path.join(tmp, 'probe.wasm'))), {
      env: { abort: () => { throw new Error('abort'); } },
    });
    const exports = instance.exports as Record<string, () => bigint>;
    const actual: Record<string, bigint> = {};
    for (const name of Object.keys(expected)) actual[name] = BigInt.asIntN(64, exports[name]());
    assert.equal(actual, expected);
    assert.ok(Object.keys(expected).length > 100, 'the probe covers every field');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

layouts.run();
