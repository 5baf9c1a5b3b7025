// Kernel benchmark: how long `meshc compile` takes for the default policy, and decisions per
// second of the same policy in the kernel (mc_decide in the syscall harness, BPF_PROG_TEST_RUN
// over a batch already in the mc_harness map) next to Wasm (bench_decide, the loop inside Wasm),
// in the same run on the same tables. Needs root and the native addon for the kernel column.
// Run: npx tsx bench/kernel.ts [--quick]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadObject } from '../src/loader/index.ts';
import { compilePolicy } from '../src/build/compile.ts';
import { writeTables } from '../src/sinks/apply.ts';
import { KernelSink } from '../src/sinks/kernel.ts';
import { compileTables } from '../src/tables/compile.ts';
import { decode, encode } from '../src/tables/codec.ts';
import { McHarnessArgs } from '../src/generated/glue.ts';
import { WasmSink } from '../src/sinks/wasm.ts';
import { instantiatePolicy } from '../src/wasm/instance.ts';
import { modelOf } from '../test/helpers/policy-harness.ts';
import { policyCases } from './simulator.ts';
import { kernelSkipReason, makePinDir, removePinDir } from '../test/kernel/env.ts';
import { packInputs, SLOT, type DecisionInput } from '../test/kernel/deciders.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface KernelBench {
  conditions: Record<string, unknown>;
  compileMs: { total: number; stages: Record<string, number> };
  results: Array<{ case: string; wasmDecisionsPerSecond: number; kernelDecisionsPerSecond?: number; kernelNsPerDecision?: number }>;
  kernelSkipped?: string;
}

/** bench_decide's input sequence (assembly/wasm.ts): xorshift32 state, client from it, now = i µs. */
function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

function benchInputs(key: Uint8Array, n: number, seed: number): DecisionInput[] {
  let state = (seed | 1) >>> 0;
  const inputs: DecisionInput[] = [];
  for (let i = 0; i < n; i++) {
    state = xorshift32(state);
    inputs.push({ key, client: BigInt(xorshift32((state ^ 0x5bd1e995) >>> 0)), rand: state, now: BigInt(i) * 1000n });
  }
  return inputs;
}

export async function benchKernel(quick = false): Promise<KernelBench> {
  const wasmDecisions = quick ? 1_000_000 : 10_000_000;
  const kernelRuns = quick ? 100 : 1000;
  const out = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-'));
  const skip = kernelSkipReason();
  let pins = '';
  try {
    const compiled = await compilePolicy({ outDir: out });
    const total = Object.values(compiled.timings).reduce((a, b) => a + b, 0);
    const results: KernelBench['results'] = [];
    for (const c of policyCases()) {
      const tables = compileTables(modelOf(c.yaml));
      const frontend = tables.frontends.find((f) => f.service.meta.name === 'svc')!;

      const instance = await instantiatePolicy(readFileSync(compiled.wasm!));
      new WasmSink(instance).load(tables);
      const wasm = instance.exports;
      const ptr = wasm.host_scratch(128);
      instance.bytes().set(frontend.keyBytes, ptr);
      wasm.bench_decide(ptr, 200_000, 1, ptr + 32);
      const wasmNs = Math.min(...[0, 1, 2].map((round) => {
        const start = process.hrtime.bigint();
        const translated = wasm.bench_decide(ptr, wasmDecisions, 7 + round, ptr + 32);
        if (translated !== wasmDecisions) throw new Error(`${c.name}: Wasm translated ${translated} of ${wasmDecisions}`);
        return Number(process.hrtime.bigint() - start);
      }));
      const row: KernelBench['results'][number] = { case: c.name, wasmDecisionsPerSecond: Math.round((wasmDecisions * 1e9) / wasmNs) };

      if (!skip) {
        pins = makePinDir('bench');
        const obj = loadObject(compiled.object, { pinRoot: pins });
        try {
          writeTables(new KernelSink(obj), tables);
          const harness = obj.map('mc_harness');
          const capacity = harness.valueSize / SLOT.size;
          const batch = Buffer.alloc(harness.valueSize);
          packInputs(benchInputs(frontend.keyBytes, capacity, 7), capacity).copy(batch);
          const key = Buffer.alloc(4);
          harness.update(key, batch);
          const ctx = Buffer.from(encode(McHarnessArgs, { count: capacity, translated: 0 }));
          const prog = obj.program('mc_harness_decide');
          const warm = prog.testRun({ ctx });
          const translated = warm.ctxOut && decode(McHarnessArgs, warm.ctxOut).translated;
          if (warm.retval !== 0 || translated !== capacity) {
            throw new Error(`${c.name}: kernel harness returned ${warm.retval | 0}, translated ${translated} of ${capacity}`);
          }
          const start = process.hrtime.bigint();
          for (let run = 0; run < kernelRuns; run++) prog.testRun({ ctx });
          const ns = Number(process.hrtime.bigint() - start);
          const decisions = kernelRuns * capacity;
          row.kernelDecisionsPerSecond = Math.round((decisions * 1e9) / ns);
          row.kernelNsPerDecision = ns / decisions;
        } finally {
          obj.close();
          removePinDir(pins);
          pins = '';
        }
      }
      results.push(row);
    }
    return {
      conditions: {
        cpu: os.cpus()[0]?.model, cores: os.cpus().length, kernelRelease: os.release(), node: process.version,
        wasm: `bench_decide, ${wasmDecisions} decisions, best of 3`,
        kernel: `test_run of mc_harness_decide, ${kernelRuns} runs of one full batch (inputs already in the map), wall time per run incl. the syscall`,
        endpoints: 10,
      },
      compileMs: { total: Math.round(total), stages: compiled.timings },
      results,
      ...(skip ? { kernelSkipped: skip } : {}),
    };
  } finally {
    if (pins) removePinDir(pins);
    rmSync(out, { recursive: true, force: true });
  }
}

export function kernelMarkdown(r: KernelBench): string {
  const m = (n?: number) => (n === undefined ? '—' : `${(n / 1e6).toFixed(2)} M`);
  const stages = Object.entries(r.compileMs.stages).map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ');
  return [
    `\`meshc compile\` (default policy): ${r.compileMs.total} ms (${stages}).`,
    '',
    '| policy (10 endpoints) | Wasm decisions/s (bench_decide) | kernel decisions/s (test_run harness) | kernel ns/decision |',
    '|---|---:|---:|---:|',
    ...r.results.map((x) => `| ${x.case} | ${m(x.wasmDecisionsPerSecond)} | ${m(x.kernelDecisionsPerSecond)} | ${x.kernelNsPerDecision?.toFixed(1) ?? '—'} |`),
    ...(r.kernelSkipped ? ['', `Kernel column skipped: ${r.kernelSkipped}`] : []),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchKernel(process.argv.includes('--quick'));
  mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench', 'results', 'kernel.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(kernelMarkdown(result));
}
