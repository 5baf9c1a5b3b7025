// Network policy at the destination pod, end to end: the ingress check (mc_np_ingress, cgroup_skb)
// attached to two pods' cgroups of our own (api, isolated for ingress; open, selected by no
// policy), their servers in those cgroups in one network namespace, and clients that meshc does
// not route (in no cgroup of ours) in a second namespace joined by a veth, sending from chosen
// source addresses: ipBlock addresses (allowed, and one in an `except`), a pod's address on
// "another node" (allowed by podSelector), another pod's (denied). Allowed connections pass,
// denied SYNs and UDP datagrams are dropped (the client times out), counted by reason and
// reported; a pod with no ingress policy is untouched; a node address passes; a policy change
// applies within a second; and policy.wasm's decideNetwork agrees with the kernel on every case.
// IPv4 and IPv6.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { loadObject, openRingBuffer, type BpfLink, type BpfObject } from '../../src/loader/index.ts';
import { compilePolicy } from '../../src/build/compile.ts';
import { KernelSink } from '../../src/sinks/kernel.ts';
import { compileNetpol, NP_MAPS, npConfigValue, type NetpolTables } from '../../src/netpol/tables.ts';
import { decideNetwork, loadNetpol, type NetworkVerdict } from '../../src/netpol/wasm.ts';
import { instantiatePolicy, type PolicyInstance } from '../../src/wasm/instance.ts';
import { McNpEvent } from '../../src/generated/glue.ts';
import * as L from '../../src/tables/layouts.ts';
import { addressWords, decode, encode, netPort, wordsAddress } from '../../src/tables/codec.ts';
import { attachablePrograms, endpointPrograms } from '../../src/agent/agent.ts';
import { CGROUP_ROOT, kernelSkipReason, kernelSuite, makePinDir } from '../kernel/env.ts';
import { disposeHookLab, ip, lineReader, perCpuSum } from '../kernel/hook-lab.ts';

const E2E = new URL('./e2e/', import.meta.url).pathname;
const API = '10.244.0.10';
const OPEN = '10.244.0.12';
const CLIENT = '10.244.0.20'; // a pod on another node: its address, no cgroup here
const OTHER = '10.244.0.21';
const NODE_A = '192.168.50.1';
const ALLOWED = '192.168.50.2';
const EXCEPTED = '192.168.50.3';
const API6 = 'fd00:244::10';
const NODE_A6 = 'fd00:50::1';
const ALLOWED6 = 'fd00:50::2';
const EXCEPTED6 = 'fd00:50::3';
const DROP_WAIT_MS = 300; // a dropped SYN is retransmitted after 1 s: one SYN per attempt

function manifests(except: boolean): string {
  const pod = (name: string, ip: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: x, labels: {app: ${name}}}
spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
status: {podIPs: [{ip: ${ip}}${name === 'api' ? `, {ip: "${API6}"}` : ''}]}`;
  const block = except ? `{cidr: 192.168.50.0/24, except: [${EXCEPTED}/32]}` : '{cidr: 192.168.50.0/24}';
  const block6 = `{cidr: "fd00:50::/64", except: ["${EXCEPTED6}/128"]}`;
  return [
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: x}',
    pod('api', API), pod('open', OPEN), pod('client', CLIENT), pod('other', OTHER),
    `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: x}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress: [{from: [{ipBlock: ${block}}, {ipBlock: ${block6}}, {podSelector: {matchLabels: {app: client}}}], ports: [{port: http}]}]`,
  ].join('\n---\n');
}

function cgroupKey(id: bigint): Buffer {
  const key = Buffer.alloc(8);
  key.writeBigUInt64LE(id);
  return key;
}

/** The tables into the kernel and into policy.wasm; mc_np_endpoints for the two pods' cgroups. */
function writeNetpol(obj: BpfObject, wasm: PolicyInstance, tables: NetpolTables, previous: NetpolTables | undefined, pods: Map<string, bigint>): void {
  const sink = new KernelSink(obj);
  obj.map('mc_np_config').update(new Uint8Array(4), npConfigValue({ isolated: { egress: 0, ingress: 0 } }));
  if (previous) for (const name of NP_MAPS) sink.remove(name, [...previous.rows.get(name)!.values()]);
  for (const name of NP_MAPS) sink.write(name, [...tables.rows.get(name)!.values()]);
  for (const [name, id] of pods) {
    const self = tables.pods.get(name)!;
    obj.map('mc_np_endpoints').update(cgroupKey(id), encode(L.NpAddrValue, { pod: self.identity, cidr: self.cidr }));
  }
  obj.map('mc_np_config').update(new Uint8Array(4), npConfigValue(tables));
  loadNetpol(wasm, tables);
}

/** Wasm: the source's identities (those decideNetwork finds for its address), then the decision to the pod. */
function wasmVerdict(wasm: PolicyInstance, source: string, pod: string, port: number, protocol: 'TCP' | 'UDP'): NetworkVerdict & { source: number } {
  const who = decideNetwork(wasm, { client: 0, clientCidr: L.NP_ID_WORLD, ip: source, port, protocol });
  return { ...decideNetwork(wasm, { client: who.peerPod, clientCidr: who.peerCidr, ip: pod, port, protocol }), source: who.peerPod };
}

function hostKey(address: string): Uint8Array {
  const words = addressWords(address);
  return encode(L.NpAddrKey, { addr: words.addr, family: words.family, prefix: words.family === 6 ? 128 : 32 });
}

kernelSuite('kernel: network policy at ingress (cgroup_skb)', kernelSkipReason({ cgroup: true, netns: true }), (s) => {
  s('unrouted sources: allowed pass, denied are dropped, counted and reported; unselected pods untouched; Wasm agrees', async () => {
    const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
    const netns = `meshc-test-npin-${tag}`;
    const outside = `meshc-test-npout-${tag}`;
    const apiCgroup = path.join(CGROUP_ROOT, `meshc-test-npin-api-${tag}`);
    const openCgroup = path.join(CGROUP_ROOT, `meshc-test-npin-open-${tag}`);
    const children: ChildProcessWithoutNullStreams[] = [];
    const links: BpfLink[] = [];
    let buildDir = '';
    let pins = '';
    let obj: BpfObject | undefined;
    let netnsMade = false;
    let outsideMade = false;
    try {
      buildDir = mkdtempSync(path.join(tmpdir(), 'meshc-npin-e2e-'));
      const built = await compilePolicy({ outDir: buildDir });
      const wasm = await instantiatePolicy(readFileSync(built.wasm!));
      pins = makePinDir('npin-e2e');
      obj = loadObject(built.object, { pinRoot: pins });
      assert.equal(endpointPrograms(obj).map((p) => [p.name, p.attachType]), [['mc_np_ingress', 'cgroup_inet_ingress']]);
      assert.not.ok(attachablePrograms(obj).some((p) => p.name === 'mc_np_ingress'), 'the ingress check never goes on the routed root');
      const model = buildModel(parseManifests(manifests(true), 'npin-e2e.yaml'), { synthesize: false });
      assert.equal(model.diagnostics.filter((d) => d.severity === 'error'), []);

      ip(['netns', 'add', netns]);
      netnsMade = true;
      ip(['netns', 'add', outside]);
      outsideMade = true;
      const veth = `npi${randomBytes(3).toString('hex')}`;
      ip(['-n', netns, 'link', 'add', `${veth}a`, 'type', 'veth', 'peer', 'name', `${veth}b`, 'netns', outside]);
      ip(['-n', netns, 'link', 'set', 'lo', 'up']);
      ip(['-n', outside, 'link', 'set', 'lo', 'up']);
      ip(['-n', netns, 'addr', 'add', `${NODE_A}/24`, 'dev', `${veth}a`]);
      for (const a of [API, OPEN]) ip(['-n', netns, 'addr', 'add', `${a}/32`, 'dev', 'lo']);
      ip(['-n', netns, '-6', 'addr', 'add', `${API6}/128`, 'dev', 'lo', 'nodad']);
      ip(['-n', netns, '-6', 'addr', 'add', `${NODE_A6}/64`, 'dev', `${veth}a`, 'nodad']);
      for (const a of [ALLOWED6, EXCEPTED6]) ip(['-n', outside, '-6', 'addr', 'add', `${a}/64`, 'dev', `${veth}b`, 'nodad']);
      for (const a of [ALLOWED, EXCEPTED]) ip(['-n', outside, 'addr', 'add', `${a}/24`, 'dev', `${veth}b`]);
      for (const a of [CLIENT, OTHER]) ip(['-n', outside, 'addr', 'add', `${a}/32`, 'dev', `${veth}b`]);
      ip(['-n', netns, 'link', 'set', `${veth}a`, 'up']);
      ip(['-n', outside, 'link', 'set', `${veth}b`, 'up']);
      ip(['-n', netns, 'route', 'add', '10.244.0.16/28', 'dev', `${veth}a`]);
      ip(['-n', outside, 'route', 'add', '10.244.0.0/28', 'dev', `${veth}b`]);
      ip(['-n', outside, '-6', 'route', 'add', 'fd00:244::/64', 'via', NODE_A6, 'dev', `${veth}b`]); // NDP answers only for the link's own addresses

      mkdirSync(apiCgroup);
      mkdirSync(openCgroup);
      const pods = new Map([['x/api', statSync(apiCgroup, { bigint: true }).ino], ['x/open', statSync(openCgroup, { bigint: true }).ino]]);
      let policy = compileNetpol(model);
      assert.is(policy.isolated.ingress, 1, 'one pod isolated for ingress');
      writeNetpol(obj, wasm, policy, undefined, pods);
      for (const cgroup of [apiCgroup, openCgroup]) links.push(obj.program('mc_np_ingress').attachCgroup(cgroup));

      const inCgroup = (cgroup: string, args: string[]) =>
        spawn('sh', ['-c', 'echo $$ > "$1/cgroup.procs" && shift && exec ip netns exec "$@"', 'sh', cgroup, netns, process.execPath, ...args]);
      const apiServer = inCgroup(apiCgroup, [path.join(E2E, 'server.mjs'), `${API}:8080`, `${API}:9090`, `${API6}:8080`]);
      const openServer = inCgroup(openCgroup, [path.join(E2E, 'server.mjs'), `${OPEN}:8080`]);
      children.push(apiServer, openServer);
      assert.is(await lineReader(apiServer)(), 'ready');
      assert.is(await lineReader(openServer)(), 'ready');
      const client = spawn('ip', ['netns', 'exec', outside, process.execPath, path.join(E2E, 'client.mjs')]);
      children.push(client);
      const next = lineReader(client);
      assert.is(await next(), 'ready');
      const run = async (kind: 'tcp' | 'udp', from: string, to: string, port: number, wait: number) => {
        client.stdin.write(`${kind} ${to} ${port} ${wait} ${from}\n`);
        return JSON.parse(await next()) as { greeting?: string; reply?: string; error?: string; ms: number };
      };

      const events: { cgroup: bigint; addr: string; port: number; proto: number; client: number; policy: number; reason: number; direction: number }[] = [];
      const reader = openRingBuffer(obj.map('mc_np_events'), (rec) => {
        const e = decode(McNpEvent, rec);
        events.push({
          cgroup: e.cgroup_id, addr: wordsAddress(e, e.family), port: netPort(e.port), proto: e.proto, client: e.client, policy: e.policy,
          reason: e.reason, direction: e.direction,
        });
      }, { start: false });
      try {
        type Case = { name: string; kind: 'tcp' | 'udp'; from: string; to: string; port: number; allowed: boolean };
        const cases: Case[] = [
          { name: 'ipBlock source', kind: 'tcp', from: ALLOWED, to: API, port: 8080, allowed: true },
          { name: "a pod's address on another node, allowed by podSelector", kind: 'tcp', from: CLIENT, to: API, port: 8080, allowed: true },
          { name: 'a source in the ipBlock except', kind: 'tcp', from: EXCEPTED, to: API, port: 8080, allowed: false },
          { name: 'a pod the policy does not name', kind: 'tcp', from: OTHER, to: API, port: 8080, allowed: false },
          { name: 'an allowed source on a port not allowed', kind: 'tcp', from: ALLOWED, to: API, port: 9090, allowed: false },
          { name: 'UDP from an allowed source (only TCP 8080 allowed)', kind: 'udp', from: ALLOWED, to: API, port: 5353, allowed: false },
          { name: 'IPv6: an ipBlock source', kind: 'tcp', from: ALLOWED6, to: API6, port: 8080, allowed: true },
          { name: 'IPv6: a source in the ipBlock except', kind: 'tcp', from: EXCEPTED6, to: API6, port: 8080, allowed: false },
          { name: 'a pod with no ingress policy (TCP)', kind: 'tcp', from: EXCEPTED, to: OPEN, port: 8080, allowed: true },
          { name: 'a pod with no ingress policy (UDP)', kind: 'udp', from: OTHER, to: OPEN, port: 5353, allowed: true },
        ];
        const dropsBefore = perCpuSum(obj, 'mc_np_metrics', L.NP_REASON_INGRESS);
        const policyId = policy.policies.find((p) => p.policy.meta.name === 'api-ingress')!.id;
        for (const c of cases) {
          const result = await run(c.kind, c.from, c.to, c.port, c.allowed ? 2000 : DROP_WAIT_MS);
          const passed = result.greeting !== undefined || result.reply !== undefined;
          assert.is(passed, c.allowed, `${c.name}: ${JSON.stringify(result)}`);
          if (c.allowed) assert.ok(result.greeting === `hello from ${c.to}` || result.reply === 'echo:ping', `${c.name}: answered by the pod`);
          else assert.is(result.error, 'TIMEOUT', `${c.name}: dropped, so the client hears nothing`);
          const verdict = wasmVerdict(wasm, c.from, c.to, c.port, c.kind === 'tcp' ? 'TCP' : 'UDP');
          assert.is(verdict.allowed, passed, `${c.name}: policy.wasm decides as the kernel did`);
          reader.consume();
          if (!c.allowed) {
            const ev = events.at(-1)!;
            assert.ok(ev, `${c.name}: an event`);
            assert.equal(
              [ev.addr, ev.port, ev.proto, ev.client, ev.policy, ev.reason, ev.direction, ev.cgroup],
              [c.to, c.port, c.kind === 'tcp' ? 6 : 17, verdict.source, policyId, L.NP_REASON_INGRESS, L.NP_DIR_INGRESS, pods.get('x/api')],
              `${c.name}: the event names the pod, the port, the source's identity, the policy, ingress`,
            );
            assert.is(verdict.reason, L.NP_REASON_INGRESS);
            assert.is(verdict.policy, policyId, `${c.name}: Wasm names the same policy`);
          }
        }
        const denied = cases.filter((c) => !c.allowed).length;
        assert.is(events.length, denied, 'one event per denied attempt');
        assert.is(perCpuSum(obj, 'mc_np_metrics', L.NP_REASON_INGRESS) - dropsBefore, denied, 'one drop counted per denied attempt (reason ingress)');
        console.log(`  ${cases.length} cases: ${cases.length - denied} passed, ${denied} dropped at ingress (counted and reported), Wasm agreeing on each`);

        // This node's own addresses pass (kubelet probes): OTHER marked as one.
        obj.map('mc_np_host').update(hostKey(OTHER), new Uint8Array([1]));
        assert.is((await run('tcp', OTHER, API, 8080, 2000)).greeting, `hello from ${API}`, "a node address passes the ingress check");
        obj.map('mc_np_host').delete(hostKey(OTHER));
        assert.is((await run('tcp', OTHER, API, 8080, DROP_WAIT_MS)).error, 'TIMEOUT', 'dropped again once it is no node address');

        // A policy change: the except goes; EXCEPTED's next connection passes, within a second.
        const changed = compileNetpol(buildModel(parseManifests(manifests(false), 'npin-e2e.yaml'), { synthesize: false }));
        const start = process.hrtime.bigint();
        writeNetpol(obj, wasm, changed, policy, pods);
        policy = changed;
        const after = await run('tcp', EXCEPTED, API, 8080, 1000);
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        assert.is(after.greeting, `hello from ${API}`, 'allowed after the change');
        assert.ok(ms < 1000, `applied within a second (${ms.toFixed(1)} ms)`);
        assert.ok(wasmVerdict(wasm, EXCEPTED, API, 8080, 'TCP').allowed, 'Wasm allows it too after the change');
        console.log(`  policy change: write + the next connection from the formerly excepted source succeeding took ${ms.toFixed(1)} ms`);

        // The switch off (no pod isolated for ingress): nothing is judged.
        const dropsNow = perCpuSum(obj, 'mc_np_metrics', L.NP_REASON_INGRESS);
        obj.map('mc_np_config').update(new Uint8Array(4), npConfigValue({ isolated: { egress: 0, ingress: 0 } }));
        assert.is((await run('tcp', OTHER, API, 8080, 2000)).greeting, `hello from ${API}`, 'with the switch off the check stops at once');
        assert.is(perCpuSum(obj, 'mc_np_metrics', L.NP_REASON_INGRESS), dropsNow);
      } finally {
        reader.close();
      }
    } finally {
      await disposeHookLab({ children, links, obj, pins, cgroup: apiCgroup, netns, netnsMade, buildDir });
      if (existsSync(openCgroup)) {
        for (const pid of readFileSync(path.join(openCgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) writeFileSync(path.join(CGROUP_ROOT, 'cgroup.procs'), pid);
        rmdirSync(openCgroup);
      }
      if (outsideMade) spawnSync('ip', ['netns', 'del', outside]);
    }
  });
});
