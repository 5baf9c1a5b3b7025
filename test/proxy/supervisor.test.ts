// The node proxy's supervisor: server slots (endpoint changes without a reload), atomic writes,
// a clear error for a missing binary, and under load in a network namespace of its own: 0 failed
// requests while route changes (reloads) and endpoint changes (runtime API) are applied, and the
// master started again after it is killed. bench/proxy-reload.ts runs the full counts (100 route
// and 1,000 endpoint changes); this test runs a tenth.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../../src/model/build.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { planProxy } from '../../src/proxy/plan.ts';
import { haproxyConfig } from '../../src/proxy/haproxy-config.ts';
import { assignSlots, sameShape, slotCommands, type SlotTable } from '../../src/proxy/slots.ts';
import { ProxySupervisor, ProxyUnavailableError, weightCommands, writeFileAtomic } from '../../src/proxy/supervisor.ts';
import { parseShowProc } from '../../src/proxy/runtime-api.ts';
import { kernelSuite } from '../kernel/env.ts';
import { haproxyAvailable } from './haproxy-process.ts';
import type { SupervisorSummary } from './supervisor-run.ts';

type Obj = Record<string, unknown>;

function tables(endpoints: { ip: string; ready?: boolean }[], header = 'true') {
  const objects: Obj[] = [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'front', namespace: 'd' }, spec: { ports: [{ port: 80 }] } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'v1', namespace: 'd' }, spec: { ports: [{ port: 8080 }] } },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'v1-a', namespace: 'd', labels: { 'kubernetes.io/service-name': 'v1' } },
      addressType: 'IPv4', ports: [{ name: '', port: 8080, protocol: 'TCP' }],
      endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: e.ready === false ? { ready: false, serving: true, terminating: true } : { ready: true } })),
    },
    {
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'd' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'front', port: 80 }], rules: [{ matches: [{ headers: [{ name: 'x-c', value: header }] }], backendRefs: [{ name: 'v1', port: 8080 }] }] },
    },
  ];
  return compileTables(buildModel(objects.map((object, doc) => ({ file: 't', doc, object }))));
}

const slotsOf = (eps: { ip: string; ready?: boolean }[], previous?: SlotTable) => assignSlots(planProxy(tables(eps)).pools, previous);
const ips = (s: SlotTable) => [...s.values()].map((p) => ({ primary: p.primary.map((e) => e?.ip ?? null), backup: p.backup.map((e) => e?.ip ?? null) }));

const slots = suite('server slots');

slots('an endpoint keeps its slot, a new one takes the lowest free slot, terminating ones use backup slots', () => {
  const a = slotsOf([{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }, { ip: '10.1.0.3' }]);
  assert.equal(ips(a)[0]!.primary.slice(0, 4), ['10.1.0.1', '10.1.0.2', '10.1.0.3', null]);
  const b = slotsOf([{ ip: '10.1.0.3' }, { ip: '10.1.0.4' }, { ip: '10.1.0.2', ready: false }], a);
  assert.equal(ips(b)[0]!.primary.slice(0, 4), ['10.1.0.4', null, '10.1.0.3', null]);
  assert.equal(ips(b)[0]!.backup.slice(0, 2), ['10.1.0.2', null]);
  assert.ok(sameShape(a, b));
  assert.equal(slotCommands(a, b), [
    'set server pool.d.v1.8080/s1 state maint',
    'set server pool.d.v1.8080/s1 addr 10.1.0.4 port 8080',
    'set server pool.d.v1.8080/s1 state ready',
    'set server pool.d.v1.8080/s2 state maint',
    'set server pool.d.v1.8080/b1 addr 10.1.0.2 port 8080',
    'set server pool.d.v1.8080/b1 state ready',
  ]);
});

slots('a pool that outgrows its slots doubles them: a different shape (a reload)', () => {
  const a = slotsOf([{ ip: '10.1.0.1' }]);
  const b = slotsOf(Array.from({ length: 9 }, (_, i) => ({ ip: `10.1.0.${i + 1}` })), a);
  assert.is(b.values().next().value!.primary.length, 16);
  assert.not.ok(sameShape(a, b));
});

const supervisor = suite('supervisor');

supervisor('a backendRef weight change keeps the shape: a few set var commands, no reload', () => {
  const config = (w0: number, w1: number, shapeOnly = false) => {
    const objects: Obj[] = [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'front', namespace: 'd' }, spec: { ports: [{ port: 80 }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'v1', namespace: 'd' }, spec: { ports: [{ port: 8080 }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'v2', namespace: 'd' }, spec: { ports: [{ port: 8080 }] } },
      {
        apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'd' },
        spec: { parentRefs: [{ group: '', kind: 'Service', name: 'front', port: 80 }], rules: [{ matches: [{ headers: [{ name: 'x-c', value: 'true' }] }], backendRefs: [{ name: 'v1', port: 8080, weight: w0 }, { name: 'v2', port: 8080, weight: w1 }] }] },
      },
    ];
    const plan = planProxy(compileTables(buildModel(objects.map((object, doc) => ({ file: 't', doc, object })))));
    return haproxyConfig(plan, { bindAddress: '10.0.0.1', ports: new Map([[plan.listeners[0]!.name, 15001]]), slots: assignSlots(plan.pools), shapeOnly });
  };
  assert.is(config(90, 10, true).text, config(50, 50, true).text);
  assert.is.not(config(90, 10).text, config(50, 50).text);
  assert.equal(weightCommands(config(90, 10).weights, config(50, 50).weights), ['set var proc.meshc_l0_r0_e0 int(50)']);
  assert.equal(weightCommands(config(90, 10).weights, config(1, 2).weights), ['set var proc.meshc_l0_r0_t int(3)', 'set var proc.meshc_l0_r0_e0 int(1)', 'set var proc.meshc_l0_r0_e1 int(3)']);
  assert.is.not(config(0, 0, true).text, config(1, 0, true).text, 'all weights 0 (500) is another shape');
});

supervisor('a missing binary is a clear error naming the path and the fix; without L7 routes it is not needed', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-supervisor-'));
  try {
    const s = new ProxySupervisor({ dir, bindAddress: '10.0.0.1', bin: '/nonexistent/haproxy' });
    try {
      await s.apply(tables([{ ip: '10.1.0.1' }]));
      assert.unreachable('apply should fail');
    } catch (error) {
      assert.instance(error, ProxyUnavailableError);
      assert.match((error as Error).message, /cannot run HAProxy at "\/nonexistent\/haproxy" \(not found\); install the haproxy package or pass --proxy-bin PATH\. L7 routes are not served; L4 routing goes on/);
    }
    const l4 = compileTables(buildModel([{ file: 't', doc: 0, object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'd' }, spec: { ports: [{ port: 80 }] } } }]));
    assert.is((await s.apply(l4)).action, 'unchanged');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

supervisor('configuration files are replaced whole (temporary file and rename), never left half written', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-atomic-'));
  try {
    const file = path.join(dir, 'haproxy.cfg');
    writeFileAtomic(file, 'a'.repeat(1 << 20));
    writeFileAtomic(file, 'b\n');
    assert.is(readFileSync(file, 'utf8'), 'b\n');
    assert.equal(readdirSync(dir), ['haproxy.cfg']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

supervisor('show proc is read as master, current and old workers', () => {
  const text = '#<PID>          <type>          <reloads>       <uptime>        <version>\n10156           master          1 [failed: 0]   0d00h00m04s     2.6.12\n# workers\n10230           worker          0               0d00h00m01s     2.6.12\n# old workers\n10159           worker          1               0d00h00m04s     2.6.12\n# programs\n';
  assert.equal(parseShowProc(text), { master: 10156, workers: [10230], oldWorkers: [10159] });
});

const RUNNER = fileURLToPath(new URL('./supervisor-run.ts', import.meta.url));
const NETNS_SETUP = 'ip link set lo up && ip addr add 10.0.0.1/32 dev lo && ip route add local 10.244.0.0/16 dev lo && exec "$@"';

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (a network namespace of its own)';
  if (!haproxyAvailable()) return 'needs haproxy (apt-get install -y haproxy)';
  return undefined;
}

kernelSuite('proxy supervisor under load', skipReason(), (test) => {
  test('0 failed requests through 10 reloads, 100 endpoint and 20 weight changes at run time; the master comes back after a kill', () => {
    const run = spawnSync('unshare', ['-n', 'sh', '-c', NETNS_SETUP, 'sh', process.execPath, '--import', 'tsx', RUNNER], {
      encoding: 'utf8', timeout: 300_000, maxBuffer: 16 << 20,
      env: { ...process.env, MESHC_PROXY_ROUTE_CHANGES: '10', MESHC_PROXY_ENDPOINT_CHANGES: '100', MESHC_PROXY_WEIGHT_CHANGES: '20' },
    });
    assert.is(run.status, 0, `runner failed: ${run.stderr}`);
    const s = JSON.parse(run.stdout) as SupervisorSummary;
    console.log(`  ${s.requests} requests, ${s.failed} failed; reload p50 ${s.reloadMs.p50} ms p99 ${s.reloadMs.p99} ms; runtime change p50 ${s.runtimeMs.p50} ms p99 ${s.runtimeMs.p99} ms`);
    assert.ok(s.requests > 500, `${s.requests} requests`);
    assert.equal(s.failures, []);
    assert.is(s.failed, 0);
    // A weight change that draws the weights it already had changes nothing.
    assert.is(s.byAction['reload'], 10);
    assert.is((s.byAction['runtime'] ?? 0) + (s.byAction['unchanged'] ?? 0), 120);
    assert.is(s.stats.reloads, 10);
    assert.ok(s.finalWeightsRespected, 'after the last weight change (b0 weight 0) every split request goes to b1');
    assert.ok(s.finalPoolsRespected, 'after the changes only the current ready endpoints answer');
    assert.ok(s.restartedAfterKill, 'the master was started again and serves');
    assert.ok(s.configAfterKillIsCurrent);
  });
});

slots.run();
supervisor.run();
