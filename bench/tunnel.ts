// `npx tsx bench/tunnel.ts [--rounds N] [--seconds S] [--bulk-mib M] [--quick]`: the node tunnel
// (src/tunnel) against plaintext in one run, rounds interleaved. Two node network namespaces on a
// bridge (test/tunnel/lab.ts), a client pod on node 1 and a server pod on node 2; the plaintext
// setup is the same pods with the server's address no longer requiring authentication (connect4
// stops steering it), so only the tunnel differs. Per setup: bulk throughput (one connection,
// the server sends M MiB), requests/s and p50/p99 on 8 pooled keep-alive connections (100-byte
// request and response back to back), new connections/s (8 at a time, one request each), the
// tunnels' CPU (both ends, schedstat) per 1,000 requests and their RSS. Target: the tunnel at
// least 70% of plaintext's bulk throughput. Writes bench/results/tunnel.json.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { processUsage } from './lib/lab.ts';
import { buildTunnelObject } from '../src/tunnel/steering.ts';
import { makeCa } from '../test/tunnel/certs.ts';
import { TunnelLab, sa, type LabNode, type Pod } from '../test/tunnel/lab.ts';
import { kernelSkipReason } from '../test/kernel/env.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const LOAD = path.join(ROOT, 'test/tunnel/load.mjs');
const PORT = 9000;

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '4' }, 'bulk-mib': { type: 'string', default: '512' }, quick: { type: 'boolean' } } });
const rounds = values.quick ? 1 : Number(values.rounds);
const seconds = values.quick ? 1 : Number(values.seconds);
const bulkBytes = (values.quick ? 64 : Number(values['bulk-mib'])) * 1024 * 1024;

interface Figures {
  bulkMbitps: number;
  rps: number;
  p50Us: number;
  p99Us: number;
  cps: number;
  connP99Us: number;
  /** CPU of both tunnel processes per 1,000 keep-alive requests (ms); 0 for plaintext. */
  tunnelCpuMsPer1k: number;
  /** CPU of both tunnel processes per 1,000 new connections (ms). */
  tunnelCpuMsPer1kConn: number;
  /** Server (+ tunnels) CPU per 1,000 keep-alive requests (ms); the client's is not counted. */
  totalCpuMsPer1k: number;
  errors: number;
}

async function runLoad(lab: TunnelLab, pod: Pod, args: string[], watch: number[]): Promise<{ out: Record<string, number>; cpuNs: number[] }> {
  if (process.env.MESHC_BENCH_DEBUG) console.error(`load: ${args.join(' ')}`);
  const child = lab.inPod(pod, args, LOAD);
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  const before = watch.map((pid) => processUsage(pid).cpuNs);
  await new Promise((r) => child.once('exit', r));
  const after = watch.map((pid) => processUsage(pid).cpuNs);
  const out = JSON.parse(text.trim().split('\n')[0] ?? '{}') as Record<string, number>;
  if ((out as { error?: unknown }).error) throw new Error(`${args[0]}: ${JSON.stringify(out)}`);
  return { out, cpuNs: after.map((a, i) => a - before[i]!) };
}

async function measure(lab: TunnelLab, client: Pod, server: Pod, serverPid: number, tunnels: LabNode[], tunneled: boolean): Promise<Figures> {
  for (const node of lab.nodes) node.steering!.requireAuth(server.addr, tunneled);
  const tunnelPids = tunnels.map((n) => n.tunnel!.child.pid!);
  const bulk = await runLoad(lab, client, ['bulk', server.addr, String(PORT), String(bulkBytes)], []);
  const rr = await runLoad(lab, client, ['rr', server.addr, String(PORT), '8', String(seconds)], [serverPid, ...tunnelPids]);
  const conn = await runLoad(lab, client, ['conn', server.addr, String(PORT), '8', String(seconds)], tunnelPids);
  const tunnelRr = tunneled ? rr.cpuNs.slice(1, 1 + tunnelPids.length).reduce((a, b) => a + b, 0) : 0;
  const tunnelConn = tunneled ? conn.cpuNs.slice(0, tunnelPids.length).reduce((a, b) => a + b, 0) : 0;
  const requests = rr.out.requests!;
  return {
    bulkMbitps: bulk.out.mbitps!,
    rps: rr.out.rps!,
    p50Us: rr.out.p50!,
    p99Us: rr.out.p99!,
    cps: conn.out.cps!,
    connP99Us: conn.out.p99!,
    tunnelCpuMsPer1k: tunnelRr / 1e6 / (requests / 1000),
    tunnelCpuMsPer1kConn: tunnelConn / 1e6 / (conn.out.connections! / 1000),
    totalCpuMsPer1k: (rr.cpuNs[0]! + tunnelRr) / 1e6 / (requests / 1000),
    errors: (rr.out.errors ?? 0) + (conn.out.errors ?? 0),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const skip = kernelSkipReason({ cgroup: true, netns: true });
  if (skip) throw new Error(`bench/tunnel.ts: ${skip}`);
  const ca = makeCa('meshc bench root');
  const lab = new TunnelLab(buildTunnelObject());
  const stop = () => {
    lab.dispose();
    ca.dispose();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stop();
      process.exit(130);
    });
  }
  try {
    lab.bundle = ca.cert;
    const n1 = lab.addNode();
    const n2 = lab.addNode();
    const client = lab.addPod(n1, 'client', sa('client'));
    const server = lab.addPod(n2, 'server', sa('server'));
    n1.svids = { [sa('client')]: ca.issue(sa('client')) };
    n2.svids = { [sa('server')]: ca.issue(sa('server')) };
    lab.require(server, [sa('client')]);
    const serverProc = lab.inPod(server, ['server', String(PORT)], LOAD);
    await new Promise((r) => serverProc.stdout.once('data', r));
    await Promise.all([lab.startTunnel(n1), lab.startTunnel(n2)]);
    const loadBefore = os.loadavg();
    const plain: Figures[] = [];
    const tunnel: Figures[] = [];
    for (let round = 0; round < rounds; round++) {
      plain.push(await measure(lab, client, server, serverProc.pid!, [n1, n2], false));
      tunnel.push(await measure(lab, client, server, serverProc.pid!, [n1, n2], true));
      console.error(`round ${round + 1}: plaintext ${JSON.stringify(plain.at(-1))}\n         tunnel ${JSON.stringify(tunnel.at(-1))}`);
    }
    const rss = [n1, n2].map((n) => processUsage(n.tunnel!.child.pid!));
    const med = (list: Figures[]) => Object.fromEntries(Object.keys(list[0]!).map((k) => [k, median(list.map((f) => f[k as keyof Figures]))])) as unknown as Figures;
    const p = med(plain);
    const t = med(tunnel);
    const ratios = {
      bulk: t.bulkMbitps / p.bulkMbitps,
      rps: t.rps / p.rps,
      p99: t.p99Us / p.p99Us,
      cps: t.cps / p.cps,
      totalCpuPer1k: t.totalCpuMsPer1k / p.totalCpuMsPer1k,
    };
    const result = {
      bench: 'tunnel',
      when: new Date().toISOString(),
      conditions: { rounds, seconds, bulkBytes, cpus: os.cpus().length, kernel: os.release(), node: process.version, loadAverage: { before: loadBefore, after: os.loadavg() } },
      plaintext: { median: p, rounds: plain },
      tunnel: { median: t, rounds: tunnel, rssKiB: rss.map((r) => r.rssKiB), hwmKiB: rss.map((r) => r.hwmKiB) },
      ratios,
      target: { bulkAtLeast: 0.7, met: ratios.bulk >= 0.7 },
    };
    writeFileSync(path.join(ROOT, 'bench/results/tunnel.json'), `${JSON.stringify(result, null, 2)}\n`);
    const f = (x: number, d = 0) => x.toFixed(d);
    console.log(`| | plaintext | tunnel | ratio |
|---|---:|---:|---:|
| bulk, one connection (Mbit/s) | ${f(p.bulkMbitps)} | ${f(t.bulkMbitps)} | ${f(ratios.bulk, 2)} |
| keep-alive requests/s (8 connections) | ${f(p.rps)} | ${f(t.rps)} | ${f(ratios.rps, 2)} |
| keep-alive p50 / p99 (µs) | ${f(p.p50Us)} / ${f(p.p99Us)} | ${f(t.p50Us)} / ${f(t.p99Us)} | p99 ×${f(ratios.p99, 2)} |
| new connections/s (8 at a time) | ${f(p.cps)} | ${f(t.cps)} | ${f(ratios.cps, 2)} |
| tunnels' CPU per 1,000 requests (ms), keep-alive / new connection | — | ${f(t.tunnelCpuMsPer1k, 1)} / ${f(t.tunnelCpuMsPer1kConn, 1)} | |
| server + tunnels CPU per 1,000 keep-alive requests (ms) | ${f(p.totalCpuMsPer1k, 1)} | ${f(t.totalCpuMsPer1k, 1)} | ${f(ratios.totalCpuPer1k, 2)} |
| tunnel RSS (MiB), node 1 / node 2 | — | ${f(rss[0]!.rssKiB / 1024, 1)} / ${f(rss[1]!.rssKiB / 1024, 1)} | |
target (tunnel bulk >= 70% of plaintext): ${result.target.met ? 'met' : 'NOT met'} (${f(ratios.bulk * 100)}%)`);
  } finally {
    stop();
  }
}

await main();
