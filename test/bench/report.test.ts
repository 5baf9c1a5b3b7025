// The bench report from a result: targets judged against no mesh from the same run, missed targets
// said plainly with the reason, the chart, and a README update that touches only its section.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closingNote, evaluateTargets, readmeSection, renderChart, renderReport, updateReadme, type BenchResult } from '../../bench/report.ts';
import { LOADS, MODES, SETUPS, type Cell, type OneHopResult } from '../../bench/datapath/one-hop.ts';
import type { ConnectResult } from '../../bench/connect.ts';

const latency = (p50: number, p99: number) => ({ p50, p90: (p50 + p99) / 2, p99, p999: p99 * 1.5, max: p99 * 2, mean: p50 * 1.1 });

/** A one-hop result where meshc's fixed-rate p99 and saturation throughput are these multiples of no mesh's. */
function oneHop(meshcP99: number, meshcRps: number, noMeshRounds = [100, 101, 99]): OneHopResult {
  const cells: Cell[] = [];
  for (const s of SETUPS) {
    for (const mode of MODES) {
      for (const load of LOADS) {
        const p99 = s.id === 'meshc' ? 100 * meshcP99 : s.id === 'no-mesh' ? 100 : 300;
        const rps = load === 'saturation' ? (s.id === 'meshc' ? 10_000 * meshcRps : s.id === 'no-mesh' ? 10_000 : 5000) : 1000;
        // Every setup ran once per round; meshc's rounds are no mesh's times the factor.
        const scale = s.id === 'meshc' ? meshcP99 : s.id === 'no-mesh' ? 1 : 3;
        const rpsScale = s.id === 'meshc' ? meshcRps : s.id === 'no-mesh' ? 1 : 0.5;
        const runs = noMeshRounds.map((v, round) => ({
          round,
          load: { tool: 'loadgen' as const, requests: 1000, completed: 1100, seconds: 1, requestsPerSecond: load === 'saturation' ? v * 100 * rpsScale : 1000, errors: 0, latencyUs: latency(50, v * scale) },
          proxyCpuMsPer1k: s.id.includes('sidecar') ? 80 : 0,
          proxyRssMiB: s.id.includes('sidecar') ? 30 : 0,
        }));
        cells.push({ setup: s.id, mode, load, runs, median: { requestsPerSecond: rps, latencyUs: latency(50, p99), errors: 0, proxyCpuMsPer1k: runs[0]!.proxyCpuMsPer1k, proxyRssMiB: runs[0]!.proxyRssMiB } });
      }
    }
  }
  return {
    conditions: { services: 10_000, connections: 16, secondsPerRun: 5, fixedRate: { 'keep-alive': 4000, close: 1500 }, payloadBytes: 1024, reported: 'median of 3 round(s)' },
    cells,
    meshcKernel: MODES.map((mode) => ({ mode, requests: 1000, programRuns: mode === 'close' ? 9000 : 10, runTimeNs: 3_000_000, nsPer1k: 3_000_000, runsPerRequest: mode === 'close' ? 9 : 0.01, programs: [{ name: 'mc_sock4_connect', runTimeNs: 1_000_000, runCount: 1000 }] })),
    iptablesLoadMs: 600,
    meshcTableWriteMs: 30,
  };
}

function connect(meshcP50: number[]): ConnectResult {
  const sizes = [10, 1000, 10_000];
  const ns = (p50: number) => ({ min: p50 * 0.8, p50, p90: p50 * 1.2, p99: p50 * 2, p999: p50 * 3, max: p50 * 10, mean: p50 * 1.1 });
  return {
    conditions: { connectsPerRound: 1000, warmupConnects: 100, rounds: 1, reported: 'median', timer: 'clock_gettime' },
    rows: sizes.flatMap((services, i) => [
      { services, setup: 'direct' as const, ns: ns(13_000), rounds: [ns(13_000)], errors: 0 },
      { services, setup: 'direct+hooks' as const, ns: ns(13_300), rounds: [ns(13_300)], errors: 0 },
      { services, setup: 'meshc' as const, ns: ns(meshcP50[i]!), rounds: [ns(meshcP50[i]!)], errors: 0 },
      { services, setup: 'iptables' as const, ns: ns(13_000 + services * 15), rounds: [ns(13_000 + services * 15)], errors: 0 },
    ]),
    load: sizes.map((services) => ({ services, iptablesRules: services * 3 + 1, iptablesLoadMs: services / 10, meshcCompileMs: 5, meshcWriteMs: 1 })),
    notMeasured: [],
  };
}

function result(o: OneHopResult, c: ConnectResult): BenchResult {
  const suites: BenchResult['suites'] = {
    oneHop: o,
    connect: c,
    programs: { skipped: 'not selected' },
    chain: { skipped: 'not selected' },
    sync: { skipped: 'not selected' },
    simulator: { skipped: 'not selected' },
    kernel: { skipped: 'not selected' },
    playground: { skipped: 'not selected' },
    controlPlane: { skipped: 'not available' },
  };
  return {
    schema: 1, date: '2026-01-02T03:04:05.000Z', mode: 'full',
    machine: { cpu: 'Test CPU', cores: 2, kernel: '6.18.1-test', memoryGiB: 24, node: 'v20', os: 'Debian', versions: {} },
    durationSeconds: 10, suites, targets: evaluateTargets(suites), chart: 'bench/results/latency.svg',
  };
}

const targets = suite('bench report: targets');

targets('ratios against no mesh decide the data-path targets', () => {
  const within = evaluateTargets(result(oneHop(1.04, 0.98), connect([13_500, 13_400, 13_600])).suites);
  assert.ok(within.filter((t) => t.name.startsWith('one hop')).every((t) => t.met === true), 'p99 +4% and throughput −2% meet ≤ +5% / ≥ −3%');
  const over = evaluateTargets(result(oneHop(1.06, 0.96), connect([13_500, 13_400, 13_600])).suites);
  assert.equal(over.filter((t) => t.name.startsWith('one hop')).map((t) => t.met), [false, false, false, false], 'p99 +6% and throughput −4% miss');
});

targets('connect(): within 5% of direct and flat in the number of Services', () => {
  const t = evaluateTargets(result(oneHop(1, 1), connect([13_500, 13_400, 13_600])).suites);
  assert.equal(t.filter((x) => x.name.startsWith('connect()')).map((x) => x.met), [true, true]);
  const slow = evaluateTargets(result(oneHop(1, 1), connect([14_000, 14_100, 14_000])).suites);
  assert.equal(slow.filter((x) => x.name.startsWith('connect()')).map((x) => x.met), [false, true], '+8% misses, still flat');
  const growing = evaluateTargets(result(oneHop(1, 1), connect([13_000, 13_300, 13_700])).suites);
  assert.equal(growing.find((x) => x.name.includes('flat'))!.met, false, 'a 5.4% rise from 10 to 10,000 Services is not flat');
});

targets('a suite that did not run leaves its targets unjudged, with the reason', () => {
  const r = result(oneHop(1, 1), connect([13_000, 13_000, 13_000]));
  const t = evaluateTargets({ ...r.suites, oneHop: { skipped: 'needs root' } });
  const hop = t.find((x) => x.name.startsWith('one hop'))!;
  assert.is(hop.met, null);
  assert.is(hop.note, 'needs root');
});

targets.run();

const report = suite('bench report: markdown, chart, README');

report('a missed target is marked, and the closing note gives the reason from the run', () => {
  const r = result(oneHop(1.3, 1), connect([14_000, 14_000, 14_000]));
  const md = renderReport(r, closingNote(r));
  assert.match(md, 'Absolute numbers hold only for this machine (2 cores, kernel 6.18.1');
  assert.match(md, /\| one hop, keep-alive, fixed rate: meshc p99 vs no mesh \| ≤ \+5% \| medians 130 µs vs 100 µs; per round ×1\.30, ×1\.30, ×1\.30: median \+30\.0% \| \*\*no\*\* \|/);
  assert.match(md, '### Why targets were missed');
  assert.match(md, /No mesh alone varied by 2% between its own 3 rounds \(100, 101, 99 µs\); the difference is larger than that noise/);
  assert.match(md, /meshc adds 1000 \/ 1000 \/ 1000 ns at p50/);
  for (const s of SETUPS) assert.match(md, s.label);
});

report('connect(): the note says whether the cost moved with the table size', () => {
  const flat = closingNote(result(oneHop(1, 1), connect([14_000, 14_000, 14_000]))).join('\n');
  assert.match(flat, 'relative to direct, the p50 stays within 5 points from the smallest to the largest table');
  const growing = closingNote(result(oneHop(1, 1), connect([13_000, 13_300, 13_800]))).join('\n');
  assert.match(growing, 'the cost also grew with the table size (×1.00 → ×1.02 → ×1.06 of direct)');
});

report('noise larger than the margin is called noise, not a result', () => {
  const r = result(oneHop(1.1, 1, [80, 100, 130]), connect([13_000, 13_000, 13_000]));
  const note = closingNote(r).join('\n');
  assert.match(note, 'No mesh alone varied by 50%');
  assert.match(note, 'the miss is within the noise');
});

report('every target met: the report says so', () => {
  const r = result(oneHop(1, 1), connect([13_100, 13_000, 13_050]));
  assert.equal(closingNote(r), ['Every target was met in this run.', '']);
});

report('the chart has a dot per percentile per setup, on a log axis', () => {
  const svg = renderChart(result(oneHop(1, 1), connect([13_000, 13_000, 13_000])));
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.is((svg.match(/<title>/g) ?? []).length, SETUPS.length * 2 * 4);
  assert.match(svg, 'latency (log scale)');
  assert.match(svg, '>100 µs<');
});

report('the README update replaces only the Benchmarks section', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-readme-'));
  try {
    const file = path.join(dir, 'README.md');
    const r = result(oneHop(1, 1), connect([13_000, 13_000, 13_000]));
    writeFileSync(file, '# meshc\n\nintro\n\n## Layout\n\nfiles\n');
    updateReadme(r, file);
    const appended = readFileSync(file, 'utf8');
    assert.ok(appended.startsWith('# meshc\n\nintro\n\n## Layout\n\nfiles\n\n## Benchmarks\n'), 'appended after the last section');
    writeFileSync(file, '# meshc\n\n## Benchmarks\n\nold table\n\n## Policies\n\nkeep me\n');
    updateReadme(r, file);
    const replaced = readFileSync(file, 'utf8');
    assert.not.match(replaced, 'old table');
    assert.ok(replaced.startsWith('# meshc\n\n## Benchmarks\n'));
    assert.ok(replaced.endsWith('\n## Policies\n\nkeep me\n'), 'the next section is untouched');
    assert.match(replaced, readmeSection(r).trim());
    assert.match(replaced, '![latency percentiles per setup](bench/results/latency.svg)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

report.run();
