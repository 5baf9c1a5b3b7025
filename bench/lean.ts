// Issue 13's figures that the per-program bench does not give, in one run of this tree's object:
//   connect     connect() p50 from the routed cgroup to a ClusterIP (and to a pod IP, the hooks
//               finding no Service) next to direct, at 10 and 100,000 Services, with
//               kernel.bpf_stats_enabled off (bench/connect.ts, no iptables); target ×1.03.
//   sync        the manifests-directory source: one file changed → maps, at 10, 1,000 and 10,000
//               Services (bench/connect-sync.ts); target p99 ≤ 200 ms at 10,000.
// The agent's RSS at 10,000 Services / 50,000 endpoints comes from bench/control-plane.ts (run it
// with --nodes 1 --agents stand-in); this file does not repeat it.
// `npx tsx bench/lean.ts [--sizes 10,100000] [--sync-sizes 10,1000,10000] [--rounds N] [--connects N] [--out FILE]`
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab } from './lib/lab.ts';
import { buildObject } from './lib/meshc.ts';
import { buildTools, missingTools } from './lib/tools.ts';
import { benchConnect } from './connect.ts';
import { benchSync } from './connect-sync.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100000' }, 'sync-sizes': { type: 'string', default: '10,1000,10000' },
    rounds: { type: 'string', default: '3' }, connects: { type: 'string', default: '20000' }, changes: { type: 'string', default: '20' },
    out: { type: 'string' },
  },
});

async function main(): Promise<void> {
  const missing = missingTools(['gcc', 'bpftool', 'taskset', 'chrt', 'ip']);
  if (missing.length > 0) throw new Error(`bench/lean.ts needs: ${missing.join(', ')}`);
  const stats = readFileSync(STATS_SYSCTL, 'utf8').trim();
  if (stats !== '0') throw new Error(`kernel.bpf_stats_enabled is ${stats}: this bench measures connect() without the stats' cost (another bench may be running)`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const lab = new Lab();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-lean-'));
  const tools = buildTools();
  const loadBefore = os.loadavg();
  try {
    const object = await buildObject(dir);
    const sizes = values.sizes.split(',').map(Number);
    const connect = await benchConnect(lab, tools, object, { sizes, iptablesSizes: [], connects: Number(values.connects), warmup: 2000, rounds: Number(values.rounds) }, log);
    const ratios = sizes.map((n) => {
      const of = (setup: string) => connect.rows.find((r) => r.services === n && r.setup === setup)!;
      const direct = of('direct');
      // Per round, then the median: each round's setups ran back to back.
      const perRound = (setup: string) => of(setup).rounds.map((r, i) => r.p50 / direct.rounds[i]!.p50).sort((a, b) => a - b);
      const mid = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
      return { services: n, meshcP50VsDirect: mid(perRound('meshc')), hooksNoServiceP50VsDirect: mid(perRound('direct+hooks')), target: 1.03 };
    });
    for (const r of ratios) log(`  connect() p50 at ${r.services} Services: ClusterIP ×${r.meshcP50VsDirect.toFixed(3)} of direct, pod IP through the hooks ×${r.hooksNoServiceP50VsDirect.toFixed(3)} (target ×${r.target})`);
    const sync = await benchSync(lab, dir, { sizes: values['sync-sizes'].split(',').map(Number), changes: Number(values.changes) }, log);
    for (const r of sync.rows) log(`  directory source at ${r.services} Services: one file changed → maps p50 ${r.ms.p50} ms, p99 ${r.ms.p99} ms (initial sync ${r.initialSyncMs} ms)`);
    const result = {
      date: new Date().toISOString(),
      conditions: { cores: os.cpus().length, loadAverage: { before: loadBefore, after: os.loadavg() }, bpfStats: 'off (kernel.bpf_stats_enabled=0)' },
      connect: { ...connect, ratios },
      sync,
    };
    const out = values.out ?? path.join(ROOT, 'bench/results/lean.json');
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    log(`  wrote ${out}`);
  } finally {
    for (const p of await lab.close()) log(`cleanup: ${p}`);
    rmSync(dir, { recursive: true, force: true });
    rmSync(tools.dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
