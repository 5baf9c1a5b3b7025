// Observability under load, in one run: `meshc agent --watch --metrics-port` routes a ClusterIP
// for a routed cgroup of the bench's own, and connectbench (bench/lib/connectbench.c) dials it
// back to back from that cgroup in a network namespace of the bench's own.
//
//   off      nobody watches the flows: the agent leaves the hooks' events off
//   page     the service map page (/observe/) is open in Chromium: the agent reads the ring
//            buffer, names every connection, counts it and streams flows and ticks to the page
// Rounds interleave the two; connect() p50 (clock_gettime around each blocking connect()) is the
// median over rounds. In each `page` round every event must be accounted for: the kernel events
// the agent read (meshc_flows_total{layer="L4"}: the flows ask the hooks for a connection's
// translation only, src/observe/ring.ts FLOW_EVENTS) plus those reported lost
// (meshc_flows_lost_total: the kernel's events-lost counter) equal one per connect() made; the
// page's own "lost" figure is read too. Then a sustained run
// with the page open (two dialers, --sustain-s seconds) samples the page's JS heap (after a forced
// garbage collection) and DOM size every 10 s.
//
// The dialers reach a few thousand connections a second on this 2-core machine, far from the
// 50,000 a second the reader must keep up with. So a last phase, page open, writes events at
// --fill-rate (default 50,000 a second) for --fill-s seconds into the agent's own ring from
// bench/lib/ringfill.bpf.c (a syscall program loaded on the agent's pinned maps that calls the
// hooks' mc_event_emit: same reservation, wakeup rule and lost count), paced in small batches,
// and accounts for them: events written = events the agent read + events the kernel reported lost.
// These are events, not connections: the kernel work of real connections is not in this phase.
//
// `npx tsx bench/observe.ts [--connects N] [--rounds R] [--sustain-s S] [--fill-rate N] [--fill-s S] [--json FILE]`
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Lab, sleep, type Placement } from './lib/lab.ts';
import { buildTools, missingTools } from './lib/tools.ts';
import { median } from './datapath/one-hop.ts';
import { launchChromium } from '../test/playground/chromium.ts';
import { buildObservePage } from '../src/observe/build.ts';
import { compileObject } from '../src/build/compile.ts';
import { loadObject } from '../src/loader/index.ts';
import { copyFileSync, statSync } from 'node:fs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const POD = '10.244.9.10';
const VIP = '10.96.9.10';
const PORT = 8080;
/** Kernel events the flows read per TCP connection (FLOW_EVENTS: the translation). */
const EVENTS_PER_CONNECTION = 1;

const MANIFESTS = `apiVersion: v1
kind: Service
metadata: { name: target, namespace: bench }
spec: { clusterIP: ${VIP}, ports: [{ name: tcp, port: 80, targetPort: ${PORT} }] }
---
apiVersion: v1
kind: Pod
metadata: { name: target-0, namespace: bench, uid: 6b1a2c3d-4e5f-4a6b-8c7d-000000000001 }
spec: { nodeName: bench, containers: [{ name: app, image: app }] }
status: { phase: Running, podIP: ${POD}, conditions: [{ type: Ready, status: "True" }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: target-1, namespace: bench, labels: { kubernetes.io/service-name: target } }
addressType: IPv4
ports: [{ name: tcp, port: ${PORT}, protocol: TCP }]
endpoints: [{ addresses: [${POD}], targetRef: { kind: Pod, name: target-0, namespace: bench }, conditions: { ready: true, serving: true, terminating: false } }]
`;

interface DialResult { connects: number; errors: number; ns: { p50: number; p90: number; p99: number } }

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

async function metric(port: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) && l.includes(labels)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { connects: { type: 'string' }, rounds: { type: 'string' }, 'sustain-s': { type: 'string' }, 'fill-rate': { type: 'string' }, 'fill-s': { type: 'string' }, json: { type: 'string' } } });
  const fillRate = Number(values['fill-rate'] ?? 50_000);
  const fillS = Number(values['fill-s'] ?? 60);
  const connects = Number(values.connects ?? 20000);
  const rounds = Number(values.rounds ?? 3);
  const sustainS = Number(values['sustain-s'] ?? 180);
  const out = values.json ?? path.join(ROOT, 'bench/results/observe.json');
  const missing = missingTools(['ip', 'gcc']);
  if (missing.length > 0) throw new Error(`missing: ${missing.join(', ')}`);
  await buildObservePage();
  const tools = buildTools();
  const lab = new Lab();
  const manifests = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-observe-'));
  lab.defer('manifests', () => rmSync(manifests, { recursive: true, force: true }));
  lab.defer('tools', () => rmSync(tools.dir, { recursive: true, force: true }));
  const stop = () => void lab.close().then(() => process.exit(130));
  process.once('SIGINT', stop);
  try {
    const ns = lab.netns('obs', [POD]);
    const routed = lab.cgroup('routed');
    const other = lab.cgroup('other');
    const pin = lab.pinDir('obs');
    mkdirSync(manifests, { recursive: true });
    writeFileSync(path.join(manifests, 'target.yaml'), MANIFESTS);
    const server = lab.spawn({ netns: ns, cgroup: other }, [tools.connectbench, 'serve', `${POD}:${PORT}`]);
    await server.waitLine((l) => l.includes('ready'));
    const metricsPort = await freePort();
    const agent = lab.spawnHost([process.execPath, path.join(ROOT, 'bin/meshc.js'), 'agent', '--manifests', manifests, '--watch', '--cgroup', routed, '--pin', pin, '--objects', path.join(ROOT, 'build'), '--metrics-port', String(metricsPort), '--node', 'bench'], 'agent');
    await agent.waitStderr((t) => /agent: watching/.test(t), 60_000);
    const client: Placement = { netns: ns, cgroup: routed };
    const dial = async (n: number, warmup: number): Promise<DialResult & { ms: number }> => {
      const t0 = performance.now();
      const result = JSON.parse((await lab.exec(client, [tools.connectbench, 'dial', `${VIP}:80`, String(n), String(warmup)])).trim().split('\n').pop()!) as DialResult;
      return { ...result, ms: performance.now() - t0 };
    };
    await dial(2000, 500);
    const browser = await launchChromium();
    const rows: { round: number; setup: 'off' | 'page'; p50: number; p90: number; p99: number; errors: number; events: number; rate: number; made: number; counted: number; lost: number; pageLost: number }[] = [];
    try {
      for (let round = 0; round < rounds; round++) {
        for (const setup of round % 2 === 0 ? (['off', 'page'] as const) : (['page', 'off'] as const)) {
          const page = setup === 'page' ? await browser.context.newPage() : undefined;
          if (page) {
            await page.goto(`http://127.0.0.1:${metricsPort}/observe/`);
            await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live');
            await sleep(1500); // the agent switches the events on when the page subscribes
          }
          const before = { counted: await metric(metricsPort, 'meshc_flow_connections_total'), lost: await metric(metricsPort, 'meshc_flows_lost_total', 'source="ring"'), events: await metric(metricsPort, 'meshc_flows_total', 'layer="L4"') };
          const r = await dial(connects, 0);
          await sleep(2500); // the ring is read every 100 ms; lost counts every second
          const counted = (await metric(metricsPort, 'meshc_flow_connections_total')) - before.counted;
          const lost = (await metric(metricsPort, 'meshc_flows_lost_total', 'source="ring"')) - before.lost;
          const events = (await metric(metricsPort, 'meshc_flows_total', 'layer="L4"')) - before.events;
          const pageLost = page ? Number((await page.locator('#lost').textContent())?.replace(/\D+/g, '') ?? 0) : 0;
          await page?.close();
          if (page) await sleep(1500);
          rows.push({ round, setup, p50: r.ns.p50, p90: r.ns.p90, p99: r.ns.p99, errors: r.errors, events, rate: Math.round(connects / (r.ms / 1000)), made: connects, counted, lost, pageLost });
          process.stderr.write(`round ${round} ${setup}: p50 ${r.ns.p50} ns, ${events} events, ${Math.round(connects / (r.ms / 1000))} conn/s, counted ${counted}, lost ${lost} (page ${pageLost})\n`);
        }
      }
      // Sustained: the page open while two dialers keep connecting.
      const page = await browser.context.newPage();
      await page.goto(`http://127.0.0.1:${metricsPort}/observe/`);
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live');
      const cdp = await browser.context.newCDPSession(page);
      await cdp.send('Performance.enable');
      // Collected first: the figure is what the page keeps, not garbage V8 has not collected yet.
      const sample = async (t: number) => {
        await cdp.send('HeapProfiler.collectGarbage');
        const { metrics } = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
        const get = (n: string) => metrics.find((m) => m.name === n)?.value ?? 0;
        return { t, heapMiB: +(get('JSHeapUsedSize') / 2 ** 20).toFixed(2), nodes: get('Nodes'), flowRows: await page.locator('#flows tbody tr').count() };
      };
      const samples = [await sample(0)];
      const started = performance.now();
      const before = { counted: await metric(metricsPort, 'meshc_flow_connections_total'), lost: await metric(metricsPort, 'meshc_flows_lost_total', 'source="ring"'), events: await metric(metricsPort, 'meshc_flows_total', 'layer="L4"') };
      let made = 0;
      let running = true;
      const loop = async () => {
        while (running) {
          await dial(20000, 0);
          made += 20000;
        }
      };
      const dialers = [loop(), loop()];
      while (performance.now() - started < sustainS * 1000) {
        await sleep(10_000);
        samples.push(await sample(Math.round((performance.now() - started) / 1000)));
        process.stderr.write(`sustained ${samples.at(-1)!.t} s: heap ${samples.at(-1)!.heapMiB} MiB, ${samples.at(-1)!.nodes} DOM nodes\n`);
      }
      running = false;
      await Promise.all(dialers);
      const elapsed = (performance.now() - started) / 1000;
      await sleep(2500);
      const counted = (await metric(metricsPort, 'meshc_flow_connections_total')) - before.counted;
      const lost = (await metric(metricsPort, 'meshc_flows_lost_total', 'source="ring"')) - before.lost;
      const events = (await metric(metricsPort, 'meshc_flows_total', 'layer="L4"')) - before.events;
      const pageLost = Number((await page.locator('#lost').textContent())?.replace(/\D+/g, '') ?? 0);
      // Events at --fill-rate into the agent's ring, the page still open.
      const fill = await fillRing(path.join(pin, 'maps'), tools.dir, statSync(routed, { bigint: true }).ino, fillRate, fillS, async () => ({
        read: await metric(metricsPort, 'meshc_flows_total', 'layer="L4"'),
        lost: await metric(metricsPort, 'meshc_flows_lost_total', 'source="ring"'),
      }));
      process.stderr.write(`fill: ${fill.written} events in ${fill.seconds} s (${fill.rate}/s): ${fill.read} read, ${fill.lost} lost, ${fill.unaccounted} unaccounted\n`);
      const agentRss = Number(/VmRSS:\s+(\d+)/.exec(await import('node:fs').then((fs) => fs.readFileSync(`/proc/${agent.pid}/status`, 'utf8')))?.[1] ?? 0) / 1024;
      const off = rows.filter((r) => r.setup === 'off');
      const on = rows.filter((r) => r.setup === 'page');
      const result = {
        conditions: { date: new Date().toISOString(), loadavg: os.loadavg(), cpus: os.cpus().length, connects, rounds, sustainS, note: 'connect() over loopback in one network namespace; each round opens a fresh page' },
        rounds: rows,
        connectP50: { offNs: median(off.map((r) => r.p50)), pageNs: median(on.map((r) => r.p50)), ratio: +(median(on.map((r) => r.p50)) / median(off.map((r) => r.p50))).toFixed(3) },
        // Each TCP connection is one kernel event for the flows (its translation); the kernel counts
        // lost events: events read + events lost = connections made.
        accounting: on.map((r) => ({ round: r.round, made: r.made, connectionsCounted: r.counted, eventsRead: r.events, eventsLost: r.lost, eventsUnaccounted: EVENTS_PER_CONNECTION * r.made - r.events - r.lost })),
        sustained: { seconds: Math.round(elapsed), made, rate: Math.round(made / elapsed), connectionsCounted: counted, eventsRead: events, eventsLost: lost, eventsUnaccounted: EVENTS_PER_CONNECTION * made - events - lost, pageLost, samples, agentRssMiB: +agentRss.toFixed(1) },
        ringFill: { note: 'events written by bench/lib/ringfill.bpf.c into the agent\'s ring (mc_event_emit), not connections', targetRate: fillRate, ...fill },
      };
      writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(`${JSON.stringify({ connectP50: result.connectP50, accounting: result.accounting, sustained: { ...result.sustained, samples: [samples[0], samples.at(-1)] }, ringFill: result.ringFill }, null, 2)}\n`);
    } finally {
      await browser.close();
    }
  } finally {
    const problems = await lab.close();
    for (const p of problems) process.stderr.write(`cleanup: ${p}\n`);

  }
}

/**
 * Writes events at `rate` a second for `seconds` into the agent's ring (ringfill.bpf.c on the maps
 * pinned in `maps`), in batches that catch up with the clock every 2 ms, then waits for the agent
 * to read them and returns the accounting: written = read + lost (+ unaccounted, which must be 0).
 */
async function fillRing(maps: string, dir: string, cgroupId: bigint, rate: number, seconds: number, counts: () => Promise<{ read: number; lost: number }>): Promise<{ written: number; seconds: number; rate: number; read: number; lost: number; unaccounted: number }> {
  const src = path.join(dir, 'ringfill');
  mkdirSync(src, { recursive: true });
  // The hooks' headers and the generated policy header (beside the source, as the build has it).
  copyFileSync(path.join(ROOT, 'bench/lib/ringfill.bpf.c'), path.join(src, 'ringfill.bpf.c'));
  copyFileSync(path.join(ROOT, 'build/meshc_policy.h'), path.join(src, 'meshc_policy.h'));
  compileObject(path.join(src, 'ringfill.bpf.c'), path.join(src, 'ringfill.bpf.o'));
  const obj = loadObject(path.join(src, 'ringfill.bpf.o'), { pinRoot: maps });
  try {
    const prog = obj.program('mc_ringfill');
    const ctx = Buffer.alloc(24);
    ctx.writeBigUInt64LE(cgroupId, 0);
    ctx.writeUInt32LE(1, 12); // a Service id and a backend id the agent may name
    ctx.writeUInt32LE(1, 16);
    const before = await counts();
    const events = obj.map('mc_config').lookup(Buffer.alloc(4))!.readUInt32LE(0);
    if (events === 0) throw new Error('the agent has the hooks\' events off (mc_config): nobody reads the ring');
    let written = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    for (let now = t0; now < end; now = performance.now()) {
      let due = Math.floor(((now - t0) / 1000) * rate) - written;
      while (due > 0) {
        const n = Math.min(due, 4096);
        ctx.writeUInt32LE(n, 8);
        const res = prog.testRun({ ctx });
        if (res.retval !== 0) throw new Error(`mc_ringfill returned ${res.retval | 0}`);
        written += n;
        due -= n;
      }
      await sleep(2);
    }
    const elapsed = (performance.now() - t0) / 1000;
    await sleep(2500); // the ring is read every 100 ms; lost counts every second
    const after = await counts();
    const read = after.read - before.read;
    const lost = after.lost - before.lost;
    return { written, seconds: +elapsed.toFixed(1), rate: Math.round(written / elapsed), read, lost, unaccounted: written - read - lost };
  } finally {
    obj.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/observe: ${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
