// Manifest change → maps updated: `meshc agent --watch` on a manifests directory with N Services;
// the bench rewrites the target Service's file in place (1 endpoint ↔ 2 endpoints) and
// polls the pinned mc_services map until the target's ready count shows the change. Includes
// the agent's watch quiet period (50 ms), its re-read of the whole directory, compile and writes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab, Proc } from './lib/lab.ts';
import { sleep } from './lib/lab.ts';
import { openPinnedMap, type BpfMap } from '../src/loader/index.ts';
import { detach } from '../src/agent/agent.ts';
import { decode } from '../src/tables/codec.ts';
import { ServiceValue } from '../src/tables/layouts.ts';
import { tablesFor } from './lib/meshc.ts';
import { manifestText, targetService, withFillers, type ServiceSpec } from './lib/services.ts';
import { median } from './datapath/one-hop.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SECOND_POD = '10.244.0.11';

export interface SyncOptions {
  sizes: number[];
  changes: number;
}

export function syncOptions(quick: boolean): SyncOptions {
  return quick ? { sizes: [10, 1000], changes: 5 } : { sizes: [10, 1000, 10_000], changes: 20 };
}

export interface SyncResult {
  conditions: Record<string, unknown>;
  rows: Array<{ services: number; changes: number; initialSyncMs: number; ms: { p50: number; p99: number; min: number; max: number }; samples: number[] }>;
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The target's ready-endpoint count in the pinned mc_services, or -1 when it is not there. */
function readyCount(map: BpfMap, key: Uint8Array): number {
  const value = map.lookup(Buffer.from(key));
  return value ? Number(decode(ServiceValue, value).ready) : -1;
}

async function until(check: () => boolean, what: string, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(1);
  }
}

export async function benchSync(lab: Lab, objectDir: string, o: SyncOptions, log: (line: string) => void): Promise<SyncResult> {
  const cgroup = lab.cgroup('sync');
  const key = tablesFor([targetService()]).frontends[0]!.keyBytes;
  const rows: SyncResult['rows'] = [];
  for (const n of o.sizes) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-manifests-'));
    const pin = lab.pinDir(`sync${n}`);
    let agent: Proc | undefined;
    try {
      const target = (pods: string[]): ServiceSpec => ({ ...targetService(), pods });
      const fillers = withFillers(n, [targetService()]).slice(1);
      if (fillers.length > 0) writeFileSync(path.join(dir, 'fillers.yaml'), manifestText(fillers));
      // Written in place: Node 20's recursive fs.watch (the agent's watcher) loses a file that is
      // replaced by rename, and with it every later change to that file.
      const writeTarget = (pods: string[]) => writeFileSync(path.join(dir, 'target.yaml'), manifestText([target(pods)]));
      writeTarget([targetService().pods[0]!]);

      const started = performance.now();
      agent = spawnAgent(lab, dir, cgroup, pin, objectDir);
      await until(() => {
        try {
          return readyCount(openPinnedMap(path.join(pin, 'maps', 'mc_services')), key) === 1;
        } catch {
          return false;
        }
      }, `the agent's first sync of ${n} services`, 120_000);
      const initialSyncMs = performance.now() - started;
      await agent.waitStderr((text) => text.includes('watching for changes'), 30_000);
      const services = openPinnedMap(path.join(pin, 'maps', 'mc_services'));
      const samples: number[] = [];
      for (let k = 0; k < o.changes; k++) {
        const pods = k % 2 === 0 ? [targetService().pods[0]!, SECOND_POD] : [targetService().pods[0]!];
        const t0 = performance.now();
        writeTarget(pods);
        await until(() => readyCount(services, key) === pods.length, `change ${k + 1} of ${n} services`, 20_000).catch((error: Error) => {
          throw new Error(`${error.message} (ready count ${readyCount(services, key)}); agent stderr: ${agent!.stderr.trim().slice(-1500)}`);
        });
        samples.push(performance.now() - t0);
        await sleep(100);
      }
      services.close();
      const sorted = [...samples].sort((a, b) => a - b);
      rows.push({ services: n, changes: o.changes, initialSyncMs, ms: { p50: median(samples), p99: percentile(sorted, 0.99), min: sorted[0]!, max: sorted[sorted.length - 1]! }, samples });
      log(`  manifest change → maps: ${String(n).padStart(6)} services: p50 ${median(samples).toFixed(0)} ms, p99 ${percentile(sorted, 0.99).toFixed(0)} ms (initial sync ${initialSyncMs.toFixed(0)} ms)`);
    } finally {
      await agent?.stop();
      detach(pin);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    conditions: {
      agent: 'node bin/meshc.js agent --manifests DIR --cgroup <bench cgroup> --pin <bench pin dir> --watch (a process of its own)',
      manifests: 'one file with N − 1 filler Services and EndpointSlices (JSON documents), one file with the target, rewritten in place (the agent\'s watcher misses files replaced by rename)',
      change: 'the target\'s EndpointSlice alternates between 1 and 2 ready endpoints',
      detection: 'the bench polls the pinned mc_services entry of the target every ~1 ms until its ready count matches',
      includes: 'the agent\'s 50 ms watch quiet period, re-reading and parsing every manifest file, building the model, compiling tables, writing the changed rows',
      changes: o.changes,
      pauseBetweenChangesMs: 100,
    },
    rows,
  };
}

function spawnAgent(lab: Lab, dir: string, cgroup: string, pin: string, objectDir: string): Proc {
  return lab.spawnHost([process.execPath, path.join(ROOT, 'bin', 'meshc.js'), 'agent', '--manifests', dir, '--cgroup', cgroup, '--pin', pin, '--objects', objectDir, '--watch'], 'meshc agent --watch');
}
