// Simulator benchmark: L4 decisions per second in policy.wasm on one core, per algorithm, and
// the memory the tables take. The loop runs inside Wasm (bench_decide), so the figure is the
// policy's own cost. Run: npx tsx bench/simulator.ts [--quick]
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { loadPolicyWasm } from '../src/wasm/load.ts';
import { compileTables } from '../src/tables/compile.ts';
import { ALGORITHMS } from '../src/model/service.ts';
import { WasmSink } from '../src/sinks/wasm.ts';
import { modelOf, serviceYaml } from '../test/helpers/policy-harness.ts';

export interface Case {
  name: string;
  yaml: string;
  service: string;
}

function endpoints(n: number, prefix: string) {
  return Array.from({ length: n }, (_, i) => ({ ip: `${prefix}.${Math.floor(i / 250)}.${(i % 250) + 1}` }));
}

/** The policies both the simulator and the kernel benchmarks measure, on small tables. */
export function policyCases(): Case[] {
  const list: Case[] = ALGORITHMS.map((alg) => ({
    name: alg,
    yaml: serviceYaml('svc', endpoints(10, '10.1'), {}, { 'meshc.io/lb-algorithm': alg }),
    service: 'svc',
  }));
  list.push({
    name: 'weighted 70/30',
    yaml: [
      serviceYaml('svc', endpoints(1, '10.2')),
      serviceYaml('v1', endpoints(6, '10.3')),
      serviceYaml('v2', endpoints(4, '10.4')),
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: split, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: svc }]
  rules: [{ backendRefs: [{ name: v1, port: 80, weight: 70 }, { name: v2, port: 80, weight: 30 }] }]
`,
    ].join('---\n'),
    service: 'svc',
  });
  list.push({
    name: 'random + ClientIP affinity',
    yaml: serviceYaml('svc', endpoints(10, '10.5'), { sessionAffinity: 'ClientIP' }),
    service: 'svc',
  });
  return list;
}

export interface SimulatorBench {
  conditions: Record<string, unknown>;
  results: { case: string; decisionsPerSecond: number; nsPerDecision: number }[];
  memory: { wasmMemoryBytes: number; rssBytes: number };
  target: { decisionsPerSecond: number; met: boolean };
}

export async function benchSimulator(quick = false): Promise<SimulatorBench> {
  const decisions = quick ? 2_000_000 : 20_000_000;
  const results: SimulatorBench['results'] = [];
  let wasmMemoryBytes = 0;
  for (const c of policyCases()) {
    const instance = await loadPolicyWasm();
    const tables = compileTables(modelOf(c.yaml));
    new WasmSink(instance).load(tables);
    const frontend = tables.frontends.find((f) => f.service.meta.name === c.service)!;
    const wasm = instance.exports;
    const ptr = wasm.host_scratch(128);
    instance.bytes().set(frontend.keyBytes, ptr);
    wasm.bench_decide(ptr, 200_000, 1, ptr + 32); // warm up the JIT tiers
    const best = [0, 1, 2].map((round) => {
      const start = process.hrtime.bigint();
      const translated = wasm.bench_decide(ptr, decisions, 7 + round, ptr + 32);
      const ns = Number(process.hrtime.bigint() - start);
      if (translated !== decisions) throw new Error(`${c.name}: only ${translated} of ${decisions} decisions translated`);
      return ns;
    }).reduce((a, b) => Math.min(a, b));
    results.push({ case: c.name, decisionsPerSecond: Math.round((decisions * 1e9) / best), nsPerDecision: best / decisions });
    wasmMemoryBytes = Math.max(wasmMemoryBytes, instance.exports.memory.buffer.byteLength);
  }
  const target = 5_000_000;
  return {
    conditions: { decisionsPerRound: decisions, rounds: 3, reported: 'best round', cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, threads: 1 },
    results,
    memory: { wasmMemoryBytes, rssBytes: process.memoryUsage().rss },
    target: { decisionsPerSecond: target, met: results.every((r) => r.decisionsPerSecond >= target) },
  };
}

export function simulatorMarkdown(r: SimulatorBench): string {
  const rows = r.results.map((x) => `| ${x.case} | ${(x.decisionsPerSecond / 1e6).toFixed(2)} M | ${x.nsPerDecision.toFixed(1)} |`);
  return [
    '| policy (10 endpoints) | decisions/s (Wasm, 1 core) | ns/decision |',
    '|---|---:|---:|',
    ...rows,
    '',
    `Wasm linear memory ${(r.memory.wasmMemoryBytes / 2 ** 20).toFixed(1)} MiB, process RSS ${(r.memory.rssBytes / 2 ** 20).toFixed(0)} MiB. ` +
      `Target ≥ ${r.target.decisionsPerSecond / 1e6} M decisions/s: ${r.target.met ? 'met' : 'missed'}.`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchSimulator(process.argv.includes('--quick'));
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/simulator.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log(simulatorMarkdown(result));
}
