// Playground benchmark: what the first view costs. Builds the site, serves it (gzip, as
// `meshc playground` does), loads it in a fresh headless Chromium per run, and measures
//  - transfer: bytes over the wire (headers + encoded bodies) of every request the page makes
//    before its first result is on screen (the lazily loaded generated-C view is not among them;
//    it is measured separately, after);
//  - time to first result: from navigation start to the first rendered simulation result (the
//    page's `meshc:first-result` performance mark).
// Targets (reported, not asserted): < 2 MB and < 1 s.
// Run: npx tsx bench/playground.ts [--runs N]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { buildPlayground } from '../src/playground/build.ts';
import { servePlayground } from '../src/playground/server.ts';
import { launchChromium } from '../test/playground/chromium.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TARGET_BYTES = 2 * 1024 * 1024;
const TARGET_MS = 1000;

interface Transfer {
  path: string;
  transferBytes: number;
  bodyBytes: number;
}

interface Run {
  firstResultMs: number;
  domContentLoadedMs: number;
  transfer: Transfer[];
}

export interface PlaygroundBench {
  conditions: Record<string, unknown>;
  firstView: {
    transferBytes: number;
    decodedBytes: number;
    requests: Transfer[];
  };
  lazyCView: { transferBytes: number; requests: Transfer[] };
  timeToFirstResultMs: { median: number; min: number; max: number; runs: number[] };
  target: { transferBytes: number; timeToFirstResultMs: number; met: { transfer: boolean; time: boolean } };
}

/** Records every finished request with its sizes, from the moment it is attached. */
function recordTransfers(page: Page, base: string): Transfer[] {
  const list: Transfer[] = [];
  page.on('requestfinished', (request) => {
    void request.sizes().then((sizes) => {
      list.push({
        path: request.url().startsWith(base) ? request.url().slice(base.length) || '/' : request.url(),
        transferBytes: sizes.responseHeadersSize + sizes.responseBodySize,
        bodyBytes: sizes.responseBodySize,
      });
    });
  });
  return list;
}

async function oneRun(url: string): Promise<Run & { page: Page; close(): Promise<void> }> {
  const browser = await launchChromium();
  const page = await browser.context.newPage();
  const transfer = recordTransfers(page, url);
  await page.goto(url);
  await page.waitForSelector('#result[data-generation]', { timeout: 30_000 });
  const timing = await page.evaluate(() => {
    const mark = performance.getEntriesByName('meshc:first-result')[0];
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
    return { first: mark?.startTime ?? NaN, dcl: nav?.domContentLoadedEventEnd ?? NaN };
  });
  // Let requestfinished handlers for what was loaded before the first result settle.
  await page.waitForTimeout(200);
  return { firstResultMs: timing.first, domContentLoadedMs: timing.dcl, transfer: [...transfer], page, close: () => browser.close() };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function benchPlayground(runs = 5): Promise<PlaygroundBench> {
  const outdir = mkdtempSync(join(os.tmpdir(), 'meshc-pg-bench-'));
  const built = await buildPlayground({ outdir });
  const server = await servePlayground(outdir);
  try {
    const times: number[] = [];
    let first: Run | undefined;
    let lazy: Transfer[] = [];
    for (let i = 0; i < runs; i++) {
      const run = await oneRun(server.url);
      times.push(run.firstResultMs);
      if (i === 0) {
        first = run;
        lazy = recordTransfers(run.page, server.url);
        await run.page.click('#tab-c');
        await run.page.waitForSelector('#c-editor .cm-content');
        await run.page.waitForTimeout(200);
      }
      await run.close();
    }
    const requests = first!.transfer.sort((a, b) => b.transferBytes - a.transferBytes);
    const leaked = requests.filter((t) => t.path.includes('c-view') || t.path.startsWith('generated/'));
    if (leaked.length > 0) throw new Error(`the first view loaded the lazy C view: ${leaked.map((t) => t.path).join(', ')}`);
    const transferBytes = requests.reduce((s, t) => s + t.transferBytes, 0);
    const decodedBytes = requests.reduce((s, t) => s + (built.files.find((f) => f.path === t.path.replace(/^\//, '').replace(/^$/, 'index.html'))?.bytes ?? t.bodyBytes), 0);
    const result: PlaygroundBench = {
      conditions: {
        browser: 'Chromium (Debian), headless, fresh profile per run, cache cold',
        server: 'src/playground/server.ts on 127.0.0.1, gzip',
        runs,
        cpu: os.cpus()[0]?.model.split(' ').slice(0, 2).join(' '),
        cores: os.cpus().length,
        node: process.version,
        siteBytesOnDisk: built.files.reduce((s, f) => s + f.bytes, 0),
        generatedC: built.generatedC,
      },
      firstView: { transferBytes, decodedBytes, requests },
      lazyCView: { transferBytes: lazy.reduce((s, t) => s + t.transferBytes, 0), requests: lazy },
      timeToFirstResultMs: {
        median: Math.round(median(times)),
        min: Math.round(Math.min(...times)),
        max: Math.round(Math.max(...times)),
        runs: times.map((t) => Math.round(t)),
      },
      target: { transferBytes: TARGET_BYTES, timeToFirstResultMs: TARGET_MS, met: { transfer: false, time: false } },
    };
    result.target.met = { transfer: transferBytes < TARGET_BYTES, time: result.timeToFirstResultMs.median < TARGET_MS };
    return result;
  } finally {
    await server.close();
    rmSync(outdir, { recursive: true, force: true });
  }
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

async function cli(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } });
  const runs = values.runs === undefined ? 5 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be an integer >= 1, got ${values.runs}`);
  const r = await benchPlayground(runs);
  const lines = [
    `first view: ${kb(r.firstView.transferBytes)} transferred (${kb(r.firstView.decodedBytes)} decoded) in ${r.firstView.requests.length} requests` +
      ` — target < ${kb(r.target.transferBytes)}: ${r.target.met.transfer ? 'met' : 'NOT met'}`,
    ...r.firstView.requests.map((t) => `  ${kb(t.transferBytes).padStart(11)}  ${t.path}`),
    `generated-C view (lazy): ${kb(r.lazyCView.transferBytes)} more`,
    `time to first result: median ${r.timeToFirstResultMs.median} ms (min ${r.timeToFirstResultMs.min}, max ${r.timeToFirstResultMs.max}, ${runs} runs)` +
      ` — target < ${r.target.timeToFirstResultMs} ms: ${r.target.met.time ? 'met' : 'NOT met'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/playground.json'), `${JSON.stringify(r, null, 2)}\n`);
  process.stdout.write('wrote bench/results/playground.json\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  cli().catch((error: unknown) => {
    process.stderr.write(`bench/playground: ${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  });
}
