// Network policy end to end: the compiled programs attached to a cgroup of our own, a client in
// that cgroup and in a network namespace of our own. An allowed connect() succeeds (to a pod, and
// to a Service whose backend is allowed), a denied one fails with EPERM at once (TCP connect and
// UDP sendmsg, to a pod and to a Service whose backend is denied), denials are counted by reason
// and reported with client, destination and policy, and a policy change applies to the next
// connect(). Everything is removed in finally: links, pins, cgroup, netns.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { loadObject, openRingBuffer, type BpfLink, type BpfObject } from '../../src/loader/index.ts';
import { compilePolicy } from '../../src/build/compile.ts';
import { writeTables } from '../../src/sinks/apply.ts';
import { KernelSink } from '../../src/sinks/kernel.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { compileNetpol, NP_MAPS, npConfigValue, type NetpolTables } from '../../src/netpol/tables.ts';
import { McNpEvent } from '../../src/generated/glue.ts';
import * as L from '../../src/tables/layouts.ts';
import { decode, encode, netPort, wordsAddress } from '../../src/tables/codec.ts';
import { decodeDenial, formatDenial } from '../../src/netpol/monitor.ts';
import { netpolNames } from '../../src/netpol/names.ts';
import { CGROUP_ROOT, kernelSkipReason, kernelSuite, makePinDir } from '../kernel/env.ts';
import { disposeHookLab, ip, lineReader, perCpuSum } from '../kernel/hook-lab.ts';
import { attachablePrograms } from '../../src/agent/agent.ts';

const E2E = new URL('./e2e/', import.meta.url).pathname;
const CLIENT = '10.244.0.20';
const API = '10.244.0.10';
const SECRET = '10.244.0.11';
const API_VIP = '10.96.0.10';
const SECRET_VIP = '10.96.0.11';

function manifests(allowSecret: boolean): string {
  const pod = (name: string, ip: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: x, labels: {app: ${name}}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: ${ip}}`;
  const svc = (name: string, vip: string) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: x}
spec: {clusterIP: ${vip}, selector: {app: ${name}}, ports: [{port: 80, targetPort: 8080}]}`;
  const peers = allowSecret ? '[{podSelector: {matchLabels: {app: api}}}, {podSelector: {matchLabels: {app: secret}}}]' : '[{podSelector: {matchLabels: {app: api}}}]';
  return [
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}',
    pod('client', CLIENT), pod('api', API), pod('secret', SECRET), svc('api', API_VIP), svc('secret', SECRET_VIP),
    `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: x}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: ${peers}, ports: [{port: http}]}]`,
  ].join('\n---\n');
}


function denials(obj: BpfObject, reason: number): number {
  return perCpuSum(obj, 'mc_np_metrics', reason);
}


function writeNetpol(obj: BpfObject, tables: NetpolTables, previous: NetpolTables | undefined, cgroupId: bigint, client: string): void {
  const sink = new KernelSink(obj);
  if (previous) for (const name of NP_MAPS) sink.remove(name, [...previous.rows.get(name)!.values()]);
  for (const name of NP_MAPS) sink.write(name, [...tables.rows.get(name)!.values()]);
  const self = tables.pods.get(client)!;
  const key = Buffer.alloc(8);
  key.writeBigUInt64LE(cgroupId);
  obj.map('mc_np_endpoints').update(key, encode(L.NpAddrValue, { pod: self.identity, cidr: self.cidr }));
  obj.map('mc_np_config').update(new Uint8Array(4), npConfigValue(tables));
}

kernelSuite('kernel: network policy at connect()', kernelSkipReason({ cgroup: true, netns: true }), (s) => {
  s('allowed connects succeed, denied ones get EPERM at once, counted and reported; a policy change applies at the next connect()', async () => {
    const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
    const netns = `meshc-test-np-${tag}`;
    const cgroup = path.join(CGROUP_ROOT, `meshc-test-np-${tag}`);
    const children: ChildProcessWithoutNullStreams[] = [];
    const links: BpfLink[] = [];
    let buildDir = '';
    let pins = '';
    let obj: BpfObject | undefined;
    let netnsMade = false;
    try {
      buildDir = mkdtempSync(path.join(tmpdir(), 'meshc-np-e2e-'));
      const built = await compilePolicy({ outDir: buildDir, wasm: false });
      pins = makePinDir('np-e2e');
      obj = loadObject(built.object, { pinRoot: pins });
      const model = buildModel(parseManifests(manifests(false), 'np-e2e.yaml'), { synthesize: false });
      assert.equal(model.diagnostics.filter((d) => d.severity === 'error'), []);
      const tables = compileTables(model);
      writeTables(new KernelSink(obj), tables);

      ip(['netns', 'add', netns]);
      netnsMade = true;
      ip(['-n', netns, 'link', 'set', 'lo', 'up']);
      for (const a of [CLIENT, API, SECRET]) ip(['-n', netns, 'addr', 'add', `${a}/32`, 'dev', 'lo']);
      mkdirSync(cgroup);
      const cgroupId = statSync(cgroup, { bigint: true }).ino;
      const policy = compileNetpol(model);
      writeNetpol(obj, policy, undefined, cgroupId, 'x/client');
      for (const p of attachablePrograms(obj)) links.push(obj.program(p.name).attachCgroup(cgroup));

      const server = spawn('ip', ['netns', 'exec', netns, process.execPath, path.join(E2E, 'server.mjs'), `${API}:8080`, `${SECRET}:8080`]);
      children.push(server);
      assert.is(await lineReader(server)(), 'ready');
      const client = spawn('sh', ['-c', 'echo $$ > "$1/cgroup.procs" && shift && exec ip netns exec "$@"', 'sh', cgroup, netns, process.execPath, path.join(E2E, 'client.mjs')]);
      children.push(client);
      const next = lineReader(client);
      assert.is(await next(), 'ready');
      const run = async (line: string) => {
        client.stdin.write(`${line}\n`);
        return JSON.parse(await next()) as { greeting?: string; reply?: string; error?: string; ms: number };
      };

      assert.is((await run(`tcp ${API} 8080`)).greeting, `hello from ${API}`, 'allowed pod');
      assert.is((await run(`tcp ${API_VIP} 80`)).greeting, `hello from ${API}`, 'allowed Service backend');
      const denied = [await run(`tcp ${SECRET} 8080`), await run(`tcp ${SECRET_VIP} 80`), await run(`udp ${API} 5353`)];
      assert.equal(denied.map((d) => d.error), ['EPERM', 'EPERM', 'EPERM'], 'denied: a pod, a Service whose backend is denied, a UDP sendmsg to a port not allowed');
      for (const d of denied) assert.ok(d.ms < 100, `refused at once (${d.ms.toFixed(2)} ms)`);
      console.log(`  denied connect()/sendmsg() returned EPERM after ${denied.map((d) => d.ms.toFixed(2)).join(', ')} ms`);
      assert.is(denials(obj, L.NP_REASON_EGRESS), 3, 'three egress denials counted');

      const lines: string[] = [];
      const names = netpolNames(policy);
      const events: { addr: string; port: number; client: number; policy: number; reason: number; cgroup: bigint }[] = [];
      const reader = openRingBuffer(obj.map('mc_np_events'), (rec) => {
        lines.push(formatDenial(decodeDenial(rec, { names, cgroupPath: () => 'test', monotonicToUnixNs: 0n })));
        const e = decode(McNpEvent, rec);
        events.push({
          cgroup: e.cgroup_id, addr: wordsAddress(e, e.family), port: netPort(e.port), client: e.client, policy: e.policy, reason: e.reason,
        });
      }, { start: false });
      reader.consume();
      reader.close();
      const policyId = policy.policies.find((p) => p.policy.meta.name === 'client-egress')!.id;
      const clientId = policy.pods.get('x/client')!.identity;
      assert.equal(events.map((e) => [e.addr, e.port]), [[SECRET, 8080], [SECRET, 8080], [API, 5353]], 'events name the destination (the chosen backend)');
      assert.ok(events.every((e) => e.client === clientId && e.policy === policyId && e.reason === L.NP_REASON_EGRESS && e.cgroup === cgroupId), 'events name the client and the policy');

      // What meshc monitor prints for them.
      assert.match(lines[0]!, /denied \(egress\) x app=client \(1 pod: x\/client\) \(cgroup test\) -> 10\.244\.0\.11:8080\/TCP x app=secret \(1 pod: x\/secret\) by NetworkPolicy x\/client-egress: EPERM$/);
      assert.match(lines[2]!, /-> 10\.244\.0\.10:5353\/UDP x app=api/);
      console.log(`  monitor: ${lines[0]}`);

      // A policy change: secret becomes allowed; the next connect() goes through.
      const changed = buildModel(parseManifests(manifests(true), 'np-e2e.yaml'), { synthesize: false });
      const start = process.hrtime.bigint();
      writeNetpol(obj, compileNetpol(changed), policy, cgroupId, 'x/client');
      const after = await run(`tcp ${SECRET_VIP} 80`);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      assert.is(after.greeting, `hello from ${SECRET}`, 'allowed after the change');
      assert.ok(ms < 1000, `applied within a second (${ms.toFixed(1)} ms)`);
      console.log(`  policy change: compile + write + the next connect() succeeding took ${ms.toFixed(1)} ms`);
    } finally {
      await disposeHookLab({ children, links, obj, pins, cgroup, netns, netnsMade, buildDir });
    }
  });
});
