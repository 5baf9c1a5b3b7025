// `npx tsx bench/proxy-scale.ts [--services N] [--changes N]`: the node proxy with many L7 Services
// (default 1,000, each a listener of its own with a header rule), in a network namespace of its
// own: the time of the first start, then reload to serving for route changes (from apply() to the
// first request that the new rule answers), the configuration's size and HAProxy's RSS. The issue's
// target: reload to serving p99 <= 1 s with 1,000 L7 Services. Writes bench/results/proxy-scale.json.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildModel } from '../src/model/build.ts';
import { compileTables } from '../src/tables/compile.ts';
import { ProxySupervisor } from '../src/proxy/supervisor.ts';
import { startEchoServers, type Echoed } from '../test/proxy/echo.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const NODE_IP = '10.0.0.1';
const NETNS_SETUP = `ip link set lo up && ip addr add ${NODE_IP}/32 dev lo && ip route add local 10.244.0.0/16 dev lo && exec "$@"`;

const { values } = parseArgs({ options: { services: { type: 'string', default: '1000' }, changes: { type: 'string', default: '30' } } });

if (process.env.MESHC_PROXY_SCALE_INSIDE !== '1') {
  const run = spawnSync('unshare', ['-n', 'sh', '-c', NETNS_SETUP, 'sh', process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit', env: { ...process.env, MESHC_PROXY_SCALE_INSIDE: '1' },
  });
  process.exit(run.status ?? 1);
}

type Obj = Record<string, unknown>;
const services = Number(values.services);
const changes = Number(values.changes);
const NS = 'scale';
const BACKENDS = 2;

function objects(version: Map<number, number>): Obj[] {
  const out: Obj[] = [];
  for (let b = 0; b < BACKENDS; b++) {
    out.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `b${b}`, namespace: NS }, spec: { ports: [{ port: 8080 }] } });
    out.push({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `b${b}-a`, namespace: NS, labels: { 'kubernetes.io/service-name': `b${b}` } },
      addressType: 'IPv4', ports: [{ name: '', port: 8080, protocol: 'TCP' }],
      endpoints: [1, 2, 3].map((i) => ({ addresses: [`10.244.${b + 1}.${i}`], conditions: { ready: true } })),
    });
  }
  for (let s = 0; s < services; s++) {
    out.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${s}`, namespace: NS }, spec: { ports: [{ port: 80 }] } });
    out.push({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: `svc-${s}`, namespace: NS },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: `svc-${s}`, port: 80 }],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: `/v${version.get(s) ?? 0}` } }], backendRefs: [{ name: 'b1', port: 8080 }] },
          { matches: [{ headers: [{ name: 'x-canary-user', value: 'true' }] }], backendRefs: [{ name: 'b1', port: 8080 }] },
          { backendRefs: [{ name: 'b0', port: 8080 }] },
        ],
      },
    });
  }
  return out;
}

const tablesOf = (version: Map<number, number>) => compileTables(buildModel(objects(version).map((object, doc) => ({ file: 'scale', doc, object }))));

function get(port: number, p: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    http.get({ host: NODE_IP, port, path: p, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(res.statusCode === 200 ? (JSON.parse(body) as Echoed).address : undefined));
    }).on('error', () => resolve(undefined));
  });
}

/** VmRSS of the master and its workers (its children), from /proc. */
function rssKb(pid: number): number {
  const rss = (p: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return [pid, ...children].reduce((sum, p) => sum + rss(p), 0);
}

const percentile = (v: number[], p: number) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] ?? 0;

const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-proxy-scale-'));
const echo = await startEchoServers([1, 2].flatMap((b) => [1, 2, 3].map((i) => ({ ip: `10.244.${b}.${i}`, port: 8080 }))));
const supervisor = new ProxySupervisor({ dir, bindAddress: NODE_IP });
const version = new Map<number, number>();
try {
  let t = performance.now();
  const first = await supervisor.apply(tablesOf(version));
  const startMs = performance.now() - t;
  const ports = new Map(first.plan.listeners.map((l) => [l.name, 0]));
  const portOf = (s: number) => 15001 + [...ports.keys()].indexOf(`${NS}.svc-${s}.80`);
  const reload: number[] = [];
  const compile: number[] = [];
  for (let k = 1; k <= changes; k++) {
    const s = (k * 7919) % services;
    version.set(s, k);
    t = performance.now();
    const tables = tablesOf(version);
    compile.push(performance.now() - t);
    t = performance.now();
    await supervisor.apply(tables);
    // Serving: the new rule's path answers from b1 (the old one would fall to b0).
    while (!(await get(portOf(s), `/v${k}/x`))?.startsWith('10.244.2.')) {
      if (performance.now() - t > 30_000) throw new Error(`change ${k}: the new rule does not answer`);
    }
    reload.push(performance.now() - t);
  }
  const result = {
    measuredAt: new Date().toISOString(),
    services,
    listeners: first.plan.listeners.length,
    configBytes: statSync(supervisor.configFile).size,
    configLines: readFileSync(supervisor.configFile, 'utf8').split('\n').length,
    firstStartMs: Math.round(startMs),
    changes,
    reloadToServingMs: { p50: Math.round(percentile(reload, 50)), p99: Math.round(percentile(reload, 99)), max: Math.round(Math.max(...reload)) },
    modelAndTablesMs: { p50: Math.round(percentile(compile, 50)) },
    rssKb: rssKb(supervisor.masterPid!),
    cpus: os.cpus().length,
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(1))),
  };
  const out = path.join(ROOT, 'bench', 'results', 'proxy-scale.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`${result.listeners} L7 listeners (${result.configLines} config lines, ${result.configBytes} bytes): first start ${result.firstStartMs} ms`);
  console.log(`reload to serving over ${changes} route changes: p50 ${result.reloadToServingMs.p50} ms, p99 ${result.reloadToServingMs.p99} ms (target <= 1000 ms); model + tables ${result.modelAndTablesMs.p50} ms, not included`);
  console.log(`HAProxy RSS (master and workers): ${Math.round(result.rssKb / 1024)} MiB; load average ${result.loadAverage.join(' ')} on ${result.cpus} CPUs`);
} finally {
  await supervisor.stop();
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
}
