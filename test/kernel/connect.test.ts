// connect() smoke test: the compiled programs attached to a cgroup of our own, applications in
// that cgroup and in a network namespace of our own dialling ClusterIPs. Checks translation
// (TCP, UDP connected and unconnected, IPv6, v4-mapped), getpeername/recvmsg showing the
// ClusterIP, ECONNREFUSED for a Service without endpoints, live-connection counts (taken at connect(), given back at the socket's release),
// metrics and ring-buffer events. Everything is removed in finally: links, pins, cgroup, netns.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { ALL_EVENTS, decodeEvent, switchEvents } from '../../src/glue/events.ts';
import { loadObject, openRingBuffer, type BpfLink, type BpfObject } from '../../src/loader/index.ts';
import { compilePolicy } from '../../src/build/compile.ts';
import { writeTables } from '../../src/sinks/apply.ts';
import { KernelSink } from '../../src/sinks/kernel.ts';
import { compileTables, type CompiledTables } from '../../src/tables/compile.ts';
import { CGROUP_ROOT, kernelSkipReason, kernelSuite, makePinDir } from './env.ts';
import { disposeHookLab, ip, lineReader, perCpuSum } from './hook-lab.ts';
import { attachablePrograms } from '../../src/agent/agent.ts';

const SMOKE = new URL('./smoke/', import.meta.url).pathname;
const POD4 = '10.244.0.10';
const POD6 = 'fd00:10:244::10';
const WEB4 = '10.96.0.10';
const WEB6 = 'fd00:10:96::10';
const EMPTY4 = '10.96.0.11';
const DNS4 = '10.96.0.12';

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default, annotations: { meshc.io/lb-algorithm: least-conn } }
spec: { clusterIP: ${WEB4}, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: default, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints: [{ addresses: ["${POD4}"], conditions: { ready: true } }]
---
apiVersion: v1
kind: Service
metadata: { name: web6, namespace: default, annotations: { meshc.io/lb-algorithm: least-conn } }
spec: { clusterIP: "${WEB6}", ipFamilies: [IPv6], ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web6-1, namespace: default, labels: { kubernetes.io/service-name: web6 } }
addressType: IPv6
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints: [{ addresses: ["${POD6}"], conditions: { ready: true } }]
---
apiVersion: v1
kind: Service
metadata: { name: empty, namespace: default }
spec:
  clusterIP: ${EMPTY4}
  ports: [{ name: http, port: 80, targetPort: 8080 }, { name: dns, port: 53, protocol: UDP, targetPort: 5353 }]
---
apiVersion: v1
kind: Service
metadata: { name: dns, namespace: default }
spec: { clusterIP: ${DNS4}, ports: [{ name: dns, port: 53, protocol: UDP, targetPort: 5353 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: dns-1, namespace: default, labels: { kubernetes.io/service-name: dns } }
addressType: IPv4
ports: [{ name: dns, port: 5353, protocol: UDP }]
endpoints: [{ addresses: ["${POD4}"], conditions: { ready: true } }]
`;

// mc_metrics indexes and event types (bpf/meshc_consts.h).
const METRIC = { noEndpoints: 1, translated: 8, reversed: 9, established: 10, closed: 11 };
const EV = { translate: 1, refuse: 2, established: 3, close: 4 };


function counter(obj: BpfObject, mapName: string, index: number): number {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index);
  const value = obj.map(mapName).lookup(key);
  return value ? value.readUInt32LE(0) : 0;
}

/** A per-CPU u64 counter, summed. */
function metric(obj: BpfObject, index: number): number {
  return perCpuSum(obj, 'mc_metrics', index);
}

function backendId(tables: CompiledTables, address: string, port: number): number {
  for (const [id, b] of tables.backends) if (b.ip === address && b.port === port) return id;
  throw new Error(`no backend ${address}:${port}`);
}

async function until(check: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}


kernelSuite('kernel: connect() through the hooks', kernelSkipReason({ cgroup: true, netns: true }), (s) => {
  s('ClusterIP translation, reverse translation, refusal, connection counts and events', async () => {
    const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
    const netns = `meshc-test-${tag}`;
    const cgroup = path.join(CGROUP_ROOT, `meshc-test-${tag}`);
    const children: ChildProcessWithoutNullStreams[] = [];
    const links: BpfLink[] = [];
    let buildDir = '';
    let pins = '';
    let obj: BpfObject | undefined;
    let netnsMade = false;
    try {
      buildDir = mkdtempSync(path.join(tmpdir(), 'meshc-smoke-'));
      const built = await compilePolicy({ outDir: buildDir, wasm: false });
      pins = makePinDir('smoke');
      obj = loadObject(built.object, { pinRoot: pins });
      const model = buildModel(parseManifests(MANIFESTS, 'smoke.yaml'));
      const errors = model.diagnostics.filter((d) => d.severity === 'error');
      assert.equal(errors, [], 'smoke manifests are valid');
      const tables = compileTables(model);
      writeTables(new KernelSink(obj), tables);
      const web4Backend = backendId(tables, POD4, 8080);
      const web6Backend = backendId(tables, POD6, 8080);

      ip(['netns', 'add', netns]);
      netnsMade = true;
      ip(['-n', netns, 'link', 'set', 'lo', 'up']);
      ip(['-n', netns, 'addr', 'add', `${POD4}/32`, 'dev', 'lo']);
      ip(['-n', netns, '-6', 'addr', 'add', `${POD6}/128`, 'dev', 'lo', 'nodad']);

      mkdirSync(cgroup);
      for (const p of attachablePrograms(obj)) links.push(obj.program(p.name).attachCgroup(cgroup));
      assert.is(links.length, 9, 'eight sock_addr hooks and sock_release attached');
      // Events are off until a reader turns them on (mc_config.events).
      switchEvents(obj.map('mc_config'), ALL_EVENTS);

      const server = spawn('ip', ['netns', 'exec', netns, process.execPath, path.join(SMOKE, 'server.mjs'), `${POD4}:8080`, `[${POD6}]:8080`, `${POD4}:5353`]);
      children.push(server);
      assert.is(await lineReader(server)(), 'ready');

      // The shell joins the cgroup, then becomes the client inside the namespace.
      const client = spawn('sh', [
        '-c', 'echo $$ > "$1/cgroup.procs" && shift && exec ip netns exec "$@"', 'sh', cgroup,
        netns, process.execPath, path.join(SMOKE, 'client.mjs'), WEB4, WEB6, EMPTY4, DNS4, POD4,
      ]);
      children.push(client);
      const next = lineReader(client);
      const holding = JSON.parse(await next()) as { step: string; peer: { address: string; port: number } };
      assert.is(holding.step, 'holding');
      assert.equal(holding.peer, { address: WEB4, port: 80 }, 'getpeername() shows the ClusterIP');
      await until(() => counter(obj!, 'mc_conns', web4Backend) === 1, 'mc_conns[web] == 1 while the connection is open');
      client.stdin.write('go on\n');

      const done = JSON.parse(await next()) as { step: string; results: Record<string, any> };
      assert.is(done.step, 'done');
      const r = done.results;
      assert.match(r.tcp4.greeting, `hello from ${POD4}:8080`, 'the connection reached the pod');
      assert.is(r.refused.error, 'ECONNREFUSED', 'no endpoints: connect() fails with ECONNREFUSED');
      assert.equal(r.udpUnconnected, { reply: 'echo:ping', from: { address: DNS4, port: 53 } }, 'recvmsg() shows the ClusterIP');
      assert.equal(r.udpConnected, { reply: 'echo:ping', from: { address: DNS4, port: 53 }, peer: { address: DNS4, port: 53 } });
      assert.is(r.udpRefused.error, 'ECONNREFUSED', 'no endpoints: sendmsg() fails with ECONNREFUSED');
      assert.equal(r.tcp6.peer, { address: WEB6, port: 80 });
      assert.match(r.tcp6.greeting, `hello from ${POD6}:8080`);
      assert.equal(r.mapped.peer, { address: `::ffff:${WEB4}`, port: 80 }, 'a v4-mapped dial sees the mapped ClusterIP');
      assert.match(r.mapped.greeting, `hello from ${POD4}:8080`);
      assert.equal(r.direct.peer, { address: POD4, port: 8080 }, 'a pod address is left alone');

      await until(() => counter(obj!, 'mc_conns', web4Backend) === 0 && counter(obj!, 'mc_conns', web6Backend) === 0, 'connection counts back to 0');
      assert.is(metric(obj, METRIC.noEndpoints), 2, 'two refusals counted as no-endpoints');
      assert.is(metric(obj, METRIC.translated), 5, 'tcp4, udp (2 sockets), tcp6, mapped translated');
      assert.is(metric(obj, METRIC.established), 3);
      assert.is(metric(obj, METRIC.closed), 3);
      assert.ok(metric(obj, METRIC.reversed) >= 3, 'getpeername and recvmsg reversed');

      const events: Array<{ type: number; svc: number; backend: number; reason: number; cookie: bigint }> = [];
      const reader = openRingBuffer(obj.map('mc_events'), (rec) => {
        const e = decodeEvent(rec);
        events.push({ cookie: e.cookie, svc: e.svcId, backend: e.backendId, type: e.type, reason: e.reason });
      }, { start: false });
      reader.consume();
      reader.close();
      const webSvc = tables.frontends.find((f) => f.vip === WEB4)!.id;
      const ofWeb = events.filter((e) => e.svc === webSvc && e.backend === web4Backend);
      assert.equal(ofWeb.map((e) => e.type).sort(), [EV.translate, EV.translate, EV.established, EV.established, EV.close, EV.close]);
      const established = ofWeb.find((e) => e.type === EV.established)!;
      assert.ok(ofWeb.some((e) => e.type === EV.close && e.cookie === established.cookie), 'close event of the same socket');
      assert.is(events.filter((e) => e.type === EV.refuse && e.reason === 1).length, 2, 'refusal events with reason no-endpoints');
    } finally {
      await disposeHookLab({ children, links, obj, pins, cgroup, netns, netnsMade, buildDir });
    }
  });
});
