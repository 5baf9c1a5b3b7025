// `npm run bench -- --quick` end to end: it completes (namespaces, cgroups, proxies, the agent,
// the kernel hooks) and writes a well-formed latest.json, report.md and chart. Checks the shape
// of the result, never a time: absolute numbers depend on the machine. Needs root (skips with the
// reason otherwise; MESHC_REQUIRE_KERNEL=1 turns the skip into a failure).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { CGROUP_ROOT, kernelSkipReason, kernelSuite, ROOT } from '../kernel/env.ts';
import { missingTools } from '../../bench/lib/tools.ts';

const SETUPS = ['no-mesh', 'meshc', 'iptables', 'sidecar-tcp', 'sidecar-http', 'node-proxy'];
const CHAIN_SETUPS = ['no-mesh', 'meshc', 'sidecar-http'];
const CONNECT_SETUPS = ['direct', 'direct+hooks', 'meshc', 'iptables'];
const SUITES = ['connect', 'programs', 'sync', 'oneHop', 'chain', 'simulator', 'kernel', 'playground', 'controlPlane'];

function skipReason(): string | undefined {
  const kernel = kernelSkipReason({ cgroup: true, netns: true });
  if (kernel) return kernel;
  const missing = missingTools();
  return missing.length > 0 ? `missing: ${missing.join(', ')}` : undefined;
}

/** Every leaf of the JSON that is null (what NaN and Infinity become) or a non-finite number. */
function badNumbers(value: unknown, at = '$'): string[] {
  if (value === null) return [at];
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [at];
  if (Array.isArray(value)) return value.flatMap((v, i) => badNumbers(v, `${at}[${i}]`));
  if (typeof value === 'object') return Object.entries(value as object).flatMap(([k, v]) => badNumbers(v, `${at}.${k}`));
  return [];
}

function isLatency(l: any): boolean {
  return ['p50', 'p90', 'p99', 'p999'].every((k) => typeof l?.[k] === 'number' && l[k] > 0) && l.p50 <= l.p99 && l.p99 <= l.p999;
}

kernelSuite('bench: npm run bench -- --quick', skipReason(), (s) => {
  s('completes, and latest.json, report.md and the chart are well formed', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-test-'));
    // What other runs left or hold now is not this run's: only what appears during it counts.
    const before = new Set(benchState());
    try {
      // Under two minutes, unless it first waits for another bench run on this machine (one at a time).
      const res = spawnSync('npm', ['run', '--silent', 'bench', '--', '--quick', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 40 * 60_000 });
      assert.is(res.status, 0, `npm run bench -- --quick failed:\n${(res.stderr ?? '').slice(-3000)}`);
      const r = JSON.parse(readFileSync(path.join(out, 'latest.json'), 'utf8'));

      for (const key of ['schema', 'date', 'mode', 'machine', 'durationSeconds', 'suites', 'targets', 'chart']) assert.ok(key in r, `latest.json has ${key}`);
      assert.is(r.mode, 'quick');
      assert.ok(r.machine.cores >= 1 && typeof r.machine.kernel === 'string');
      assert.equal(badNumbers(r), [], 'no null, NaN or infinite number anywhere');
      assert.equal(Object.keys(r.suites).sort(), [...SUITES].sort(), 'every suite is present');
      for (const name of ['connect', 'sync', 'oneHop', 'chain', 'simulator', 'kernel']) {
        assert.not.ok('skipped' in r.suites[name], `suite ${name} ran (skipped: ${r.suites[name].skipped})`);
      }
      for (const name of ['playground', 'controlPlane']) {
        const suite = r.suites[name];
        assert.ok('skipped' in suite ? typeof suite.skipped === 'string' && suite.skipped.length > 0 : Object.keys(suite).length > 0, `${name}: results or a reason`);
      }

      const oneHop = r.suites.oneHop;
      for (const setup of SETUPS) {
        for (const mode of ['keep-alive', 'close']) {
          for (const load of ['saturation', 'fixed-rate']) {
            const cell = oneHop.cells.find((c: any) => c.setup === setup && c.mode === mode && c.load === load);
            assert.ok(cell, `one hop: ${setup} ${mode} ${load} present`);
            assert.ok(cell.runs.length >= 1 && cell.median.requestsPerSecond > 0, `one hop: ${setup} ${mode} ${load} has requests`);
            assert.ok(isLatency(cell.median.latencyUs), `one hop: ${setup} ${mode} ${load} latency percentiles ordered`);
            assert.is(cell.median.proxyCpuMsPer1k > 0, setup.includes('sidecar') || setup === 'node-proxy', `one hop: ${setup}: proxy CPU only where there is a proxy`);
          }
        }
      }
      assert.equal(oneHop.meshcKernel.map((k: any) => k.mode), ['keep-alive', 'close']);
      assert.ok(oneHop.meshcKernel.every((k: any) => k.programRuns > 0), 'meshc programs ran during the stats runs');
      assert.ok(oneHop.conditions.services > 0 && oneHop.conditions.payloadBytes > 0);

      assert.equal(r.suites.chain.setups.map((x: any) => x.setup), CHAIN_SETUPS);
      assert.ok(r.suites.chain.setups.every((x: any) => isLatency(x.median.latencyUs)));

      const connect = r.suites.connect;
      const sizes = [...new Set(connect.rows.map((x: any) => x.services))];
      assert.equal(sizes, [10, 1000, 10_000], 'quick connect sizes');
      for (const n of sizes) {
        for (const setup of CONNECT_SETUPS) {
          const row = connect.rows.find((x: any) => x.services === n && x.setup === setup);
          assert.ok(row && row.ns.p50 > 0 && row.ns.p50 <= row.ns.p99, `connect: ${setup} at ${n} services`);
        }
      }
      assert.ok(r.suites.sync.rows.length >= 1 && r.suites.sync.rows.every((x: any) => x.samples.length === x.changes && x.ms.p50 > 0));

      assert.ok(r.targets.length >= 6 && r.targets.every((t: any) => typeof t.met === 'boolean' && t.measured.length > 0), 'every target evaluated');

      const report = readFileSync(path.join(out, 'report.md'), 'utf8');
      assert.match(report, 'Absolute numbers hold only for this machine');
      for (const label of ['(a) no mesh', '(b) meshc', '(c) iptables DNAT', '(d) sidecars, TCP mode', '(d) sidecars, HTTP mode', '(e) node proxy, HTTP mode']) assert.match(report, label);
      const chart = path.join(out, path.basename(r.chart));
      assert.ok(existsSync(chart), `chart ${r.chart} written`);
      const svg = readFileSync(chart, 'utf8');
      assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.match(svg, /<\/svg>\n$/);
      assert.is((svg.match(/<title>/g) ?? []).length, (SETUPS.length * 2 + CHAIN_SETUPS.length) * 4, 'a dot per percentile per setup');

      assert.equal(benchState().filter((name) => !before.has(name)), [], 'no pins, namespaces or cgroups left behind');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

/** The bench's pins, network namespaces and cgroups on this machine now. */
function benchState(): string[] {
  const pins = readdirSync('/sys/fs/bpf').filter((d) => d.startsWith('meshc-bench-')).map((d) => `pin ${d}`);
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith('meshc-bench-')).map((l) => `netns ${l.split(' ')[0]}`);
  const cgroups = readdirSync(CGROUP_ROOT).filter((d) => d.startsWith('meshc-bench-')).map((d) => `cgroup ${d}`);
  return [...pins, ...netns, ...cgroups];
}
