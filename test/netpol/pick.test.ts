// Only allowed backends: a Service whose pods are partly allowed sends only to the allowed ones
// (the routing policy's pick, and when that one is denied the next allowed slot of its range),
// and refuses (EPERM) when none is. Semantics through simulate (Wasm); and a differential test:
// random Services, pods and policies, the same routing decisions through mc_np_pick in Wasm and
// through the kernel's mc_np_judge (the syscall harness mc_harness_np_pick), every byte compared.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import type { Model } from '../../src/model/types.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { instantiatePolicy, type PolicyInstance } from '../../src/wasm/instance.ts';
import { simulate } from '../../src/sim/simulate.ts';
import { compilePolicy } from '../../src/build/compile.ts';
import { loadObject, type BpfObject } from '../../src/loader/index.ts';
import { KernelSink } from '../../src/sinks/kernel.ts';
import { WasmSink } from '../../src/sinks/wasm.ts';
import { writeTables } from '../../src/sinks/apply.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { compileNetpol, NP_MAPS, npConfigValue, type NetpolTables } from '../../src/netpol/tables.ts';
import { loadNetpol } from '../../src/netpol/wasm.ts';
import * as L from '../../src/tables/layouts.ts';
import { fieldOffset, hex } from '../../src/tables/codec.ts';
import { McNpQuery, McNpScratch } from '../../src/generated/glue.ts';
import { kernelSkipReason, kernelSuite, makePinDir, removePinDir } from '../kernel/env.ts';
import { runHarnessBatches } from '../kernel/deciders.ts';
import { Rng } from './random-policies.ts';

/** A Service `api` (port 80 → 8080) over `pods` pods, `allowed` of them labelled allowed=yes; policies in `policies`. */
function manifests(pods: number, allowed: (i: number) => boolean, algorithm: string, policies: string[]): string {
  const docs = ['apiVersion: v1\nkind: Namespace\nmetadata: {name: x}',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: x, labels: {app: client}}\nspec: {containers: [{name: c, image: i}]}\nstatus: {podIP: 10.244.0.2}',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: other, namespace: x, labels: {app: other}}\nspec: {containers: [{name: c, image: i}]}\nstatus: {podIP: 10.244.0.3}',
    `apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: x, annotations: {meshc.io/lb-algorithm: ${algorithm}}}\nspec: {clusterIP: 10.96.0.10, selector: {app: api}, ports: [{port: 80, targetPort: 8080}]}`];
  for (let i = 0; i < pods; i++) {
    docs.push(`apiVersion: v1\nkind: Pod\nmetadata: {name: api${i}, namespace: x, labels: {app: api, allowed: "${allowed(i) ? 'yes' : 'no'}"}}\nspec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}\nstatus: {podIP: 10.244.1.${i + 1}}`);
  }
  return [...docs, ...policies].join('\n---\n');
}

const EGRESS_TO_ALLOWED = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: client-egress, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n  egress: [{to: [{podSelector: {matchLabels: {allowed: "yes"}}}], ports: [{port: 8080}]}]';
const INGRESS_FROM_OTHER = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: api-ingress, namespace: x}\nspec:\n  podSelector: {matchLabels: {allowed: "no"}}\n  policyTypes: [Ingress]\n  ingress: [{from: [{podSelector: {matchLabels: {app: other}}}]}]';

function model(text: string): Model {
  const m = buildModel(parseManifests(text, 'pick.yaml'), { synthesize: false });
  const errors = m.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(JSON.stringify(errors));
  return m;
}

const semantics = suite('netpol pick: only allowed backends (simulate, Wasm)');
let instance: PolicyInstance;
semantics.before(async () => {
  instance = await loadPolicyWasm();
});

for (const algorithm of ['random', 'round-robin', 'maglev', 'least-conn']) {
  semantics(`${algorithm}: 2 of 5 pods allowed: every connection goes to one of the 2, none refused`, () => {
    const m = model(manifests(5, (i) => i === 1 || i === 3, algorithm, [EGRESS_TO_ALLOWED]));
    const result = simulate(m, instance, { to: { name: 'api', namespace: 'x', port: 80 }, from: 'x/client', connections: 600, seed: 7 });
    assert.is(result.refused, 0, JSON.stringify(result.refusedReasons));
    const used = result.backends.filter((b) => b.count > 0);
    // One client: Maglev sends it to one backend; the others spread over both allowed pods.
    if (algorithm !== 'maglev') assert.equal(used.map((b) => b.pod).sort(), ['x/api1', 'x/api3']);
    for (const b of used) assert.ok(b.pod === 'x/api1' || b.pod === 'x/api3', `${b.pod} is denied`);
    assert.is(used.reduce((n, b) => n + b.count, 0), 600);
    assert.ok(result.networkPolicy!.moved > 0, 'some picks were denied and moved');
  });
}

semantics('the destination pods\' ingress denies some: only the others are used', () => {
  const m = model(manifests(4, (i) => i === 0, 'random', [INGRESS_FROM_OTHER]));
  const result = simulate(m, instance, { to: { name: 'api', namespace: 'x', port: 80 }, from: 'x/client', connections: 400, seed: 3 });
  assert.is(result.refused, 0);
  assert.equal(result.backends.filter((b) => b.count > 0).map((b) => b.pod), ['x/api0']);
});

semantics('no pod allowed: every connection is refused (network-policy, EPERM), none moved', () => {
  const m = model(manifests(3, () => false, 'random', [EGRESS_TO_ALLOWED]));
  const result = simulate(m, instance, { to: { name: 'api', namespace: 'x', port: 80 }, from: 'x/client', connections: 100, seed: 1 });
  assert.is(result.refused, 100);
  assert.equal(result.refusedReasons, { 'network-policy': 100 });
  assert.is(result.networkPolicy!.moved, 0);
  assert.ok(result.networkPolicy!.denied.some((d) => d.policy === 'NetworkPolicy x/client-egress' && d.reason === 'egress'), JSON.stringify(result.networkPolicy));
});

semantics.run();

/** Byte offsets in struct mc_np_scratch (bpf/meshc_netpol.h) and its question q, from their generated layouts. */
const Q = fieldOffset(McNpScratch, 'q');
const SLOT = {
  size: McNpScratch.size, key: fieldOffset(McNpScratch, 'key'), out: fieldOffset(McNpScratch, 'out'),
  client: Q + fieldOffset(McNpQuery, 'client'), clientCidr: Q + fieldOffset(McNpQuery, 'client_cidr'),
  pool: Q + fieldOffset(McNpQuery, 'pool'), verdict: Q + fieldOffset(McNpQuery, 'verdict'), np: Q + fieldOffset(McNpQuery, 'np'),
} as const;

function randomModel(rng: Rng): Model {
  const pods = 1 + rng.int(12);
  const share = rng.pick([0, 0.2, 0.5, 0.8, 1]);
  const allowed = Array.from({ length: pods }, () => rng.chance(share));
  const policies = [EGRESS_TO_ALLOWED];
  if (rng.chance(0.4)) policies.push(INGRESS_FROM_OTHER);
  if (rng.chance(0.2)) policies.shift();
  return model(manifests(pods, (i) => allowed[i]!, rng.pick(['random', 'round-robin', 'maglev', 'least-conn']), policies));
}

kernelSuite('netpol pick differential: Wasm and kernel', kernelSkipReason(), (s) => {
  let dir = '';
  let pins = '';
  let obj: BpfObject | undefined;
  let wasm: PolicyInstance;
  s.before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'meshc-nppick-'));
    const built = await compilePolicy({ outDir: dir });
    pins = makePinDir('nppick');
    obj = loadObject(built.object, { pinRoot: pins });
    wasm = await instantiatePolicy(readFileSync(built.wasm!));
  });
  s.after(() => {
    obj?.close();
    if (pins) removePinDir(pins);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  s('20,000 routing picks over 100 random Services, pods and policies: kernel and Wasm take the same backend', () => {
    const rng = new Rng(0x7069);
    const capacity = obj!.map('mc_np_pick_harness').valueSize / SLOT.size;
    let previous: NetpolTables | undefined;
    let compared = 0;
    let differences = 0;
    let first = '';
    const outcomes = { kept: 0, moved: 0, denied: 0 };
    for (let m = 0; m < 100; m++) {
      const cluster = randomModel(rng);
      const routes = compileTables(cluster);
      writeTables(new KernelSink(obj!), routes);
      new WasmSink(wasm).load(routes);
      const netpol = compileNetpol(cluster);
      const sink = new KernelSink(obj!);
      if (previous) for (const name of NP_MAPS) sink.remove(name, [...previous.rows.get(name)!.values()]);
      for (const name of NP_MAPS) sink.write(name, [...netpol.rows.get(name)!.values()]);
      obj!.map('mc_np_config').update(new Uint8Array(4), npConfigValue(netpol));
      previous = netpol;
      loadNetpol(wasm, netpol);
      const frontend = routes.frontends[0]!;
      const client = netpol.pods.get(rng.chance(0.8) ? 'x/client' : 'x/other')!;
      const count = 200;
      const batch = Buffer.alloc(count * SLOT.size);
      const exports = wasm.exports;
      const keyPtr = exports.host_scratch(frontend.keyBytes.length + L.Decision.size);
      const outPtr = keyPtr + frontend.keyBytes.length;
      for (let i = 0; i < count; i++) {
        wasm.bytes().set(frontend.keyBytes, keyPtr);
        wasm.bytes().fill(0, outPtr, outPtr + L.Decision.size);
        const verdict = exports.mc_decide(keyPtr, BigInt(rng.int(1 << 30)), rng.int(2 ** 31), BigInt(i) * 1_000_000n, outPtr);
        const base = i * SLOT.size;
        batch.set(frontend.keyBytes, base + SLOT.key);
        batch.set(wasm.bytes().subarray(outPtr, outPtr + L.Decision.size), base + SLOT.out);
        batch.writeUInt32LE(client.identity, base + SLOT.client);
        batch.writeUInt32LE(client.cidr, base + SLOT.clientCidr);
        batch[base + SLOT.pool] = verdict === L.VERDICT.translate ? 1 : 0;
        if (verdict !== L.VERDICT.translate) batch[base + SLOT.pool] = 0;
      }
      const kernel = runHarnessBatches(obj!, 'mc_np_pick_harness', 'mc_harness_np_pick', SLOT.size, capacity, batch, count);
      for (let i = 0; i < count; i++) {
        const base = i * SLOT.size;
        if (batch[base + SLOT.pool] !== 1) continue;
        const given = batch.subarray(base + SLOT.out, base + SLOT.out + L.Decision.size);
        wasm.bytes().set(frontend.keyBytes, keyPtr);
        wasm.bytes().set(given, outPtr);
        const npPtr = exports.np_scratch();
        wasm.bytes().fill(0, npPtr, npPtr + L.NpDecision.size);
        const verdict = exports.mc_np_pick(client.identity, client.cidr, keyPtr, outPtr, npPtr);
        const wasmOut = Buffer.from(wasm.bytes().subarray(outPtr, outPtr + L.Decision.size));
        const wasmNp = Buffer.from(wasm.bytes().subarray(npPtr, npPtr + L.NpDecision.size));
        const kOut = kernel.subarray(base + SLOT.out, base + SLOT.out + L.Decision.size);
        const kNp = kernel.subarray(base + SLOT.np, base + SLOT.np + L.NpDecision.size);
        compared++;
        const same = kernel[base + SLOT.verdict] === verdict && kOut.equals(wasmOut) && (verdict === L.NP_ALLOW || kNp.equals(wasmNp));
        if (!same) {
          differences++;
          if (!first) first = `cluster ${m} pick ${i}: kernel verdict ${kernel[base + SLOT.verdict]} out ${hex(kOut)} np ${hex(kNp)}; wasm ${verdict} out ${hex(wasmOut)} np ${hex(wasmNp)}`;
        }
        if (verdict !== L.NP_ALLOW) outcomes.denied++;
        else if (wasmOut.equals(Buffer.from(given))) outcomes.kept++;
        else outcomes.moved++;
      }
    }
    console.log(`  ${compared} picks compared, ${differences} differences; ${JSON.stringify(outcomes)}`);
    assert.is(differences, 0, first);
    assert.ok(compared >= 15_000, `${compared} compared`);
    for (const [k, n] of Object.entries(outcomes)) assert.ok(n > compared / 50, `too few ${k}: ${JSON.stringify(outcomes)}`);
  });
});
