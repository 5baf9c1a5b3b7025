// `npx tsx bench/netpol.ts [--decisions N]`: network policy costs on this machine.
//  - table compile time (model -> mc_np_* rows) with 0, 100 and 10,000 NetworkPolicies that all
//    select the client (each allows egress to its own /32 on 443), the 10,000 case the target;
//  - the kernel's per-decision cost of the check every connect() runs (address lookup and
//    decideNetwork, the generated C) through the syscall harness mc_harness_netpol, with 0, 100
//    and 10,000 such policies, measured in the same run: the difference to 0 policies is what the
//    policies add to a connect(). Wall time per batch of 4,096 divided by 4,096, so the batch copy
//    in and out is in every figure alike; the medians of 30 batches.
// Needs root (BPF). Pins under a directory of its own in bpffs, removed at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { compilePolicy } from '../src/build/compile.ts';
import { buildModel } from '../src/model/build.ts';
import { parseManifests } from '../src/model/parse.ts';
import { loadObject } from '../src/loader/index.ts';
import { KernelSink } from '../src/sinks/kernel.ts';
import { compileNetpol, NP_MAPS, npConfigValue } from '../src/netpol/tables.ts';
import { MC_NP_HARNESS_BATCH, McNpHarnessSlot } from '../src/generated/glue.ts';
import * as L from '../src/tables/layouts.ts';
import { addressWords, encode, netPort } from '../src/tables/codec.ts';
import { makePinDir, removePinDir } from '../test/kernel/env.ts';

// struct mc_np_harness_slot (bpf/meshc_netpol.h), from its generated layout.
const SLOT = McNpHarnessSlot.size;
const at = (name: (typeof McNpHarnessSlot)['fields'][number]['name']) => McNpHarnessSlot.fields.find((f) => f.name === name)!.offset;
const BATCH = MC_NP_HARNESS_BATCH;

function manifests(policies: number): string {
  const docs = [
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: bench, labels: {app: client}}\nspec: {containers: [{name: c, image: i}]}\nstatus: {podIP: 10.244.0.2}',
  ];
  for (let i = 0; i < policies; i++) {
    docs.push(`apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p${i}, namespace: bench}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n  egress: [{to: [{ipBlock: {cidr: ${target(i)}/32}}], ports: [{port: 443}]}]`);
  }
  return docs.join('\n---\n');
}

function target(i: number): string {
  return `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { batches: { type: 'string' } } });
  const batches = Number(values.batches ?? 30);
  const dir = mkdtempSync(path.join(tmpdir(), 'meshc-bench-np-'));
  const pins = makePinDir('bench-np');
  try {
    const built = await compilePolicy({ outDir: dir, wasm: false });
    const obj = loadObject(built.object, { pinRoot: pins });
    const sink = new KernelSink(obj);
    const map = obj.map('mc_np_harness');
    const prog = obj.program('mc_harness_netpol');
    let previous: ReturnType<typeof compileNetpol> | undefined;
    const results: string[] = [];
    for (const count of [0, 100, 10_000]) {
      const model = buildModel(parseManifests(manifests(count), 'bench.yaml'), { synthesize: false });
      const t0 = performance.now();
      const tables = compileNetpol(model);
      const compileMs = performance.now() - t0;
      if (previous) for (const name of NP_MAPS) sink.remove(name, [...previous.rows.get(name)!.values()]);
      const t1 = performance.now();
      for (const name of NP_MAPS) sink.write(name, [...tables.rows.get(name)!.values()]);
      obj.map('mc_np_config').update(new Uint8Array(4), npConfigValue(tables));
      const writeMs = performance.now() - t1;
      previous = tables;
      const client = tables.pods.get('bench/client')!;
      // Half the decisions to an allowed /32 on 443, half to an address no rule allows.
      const batch = Buffer.alloc(map.valueSize);
      for (let i = 0; i < BATCH; i++) {
        const ip = i % 2 === 0 && count > 0 ? target(i % count) : `192.0.2.${i & 255}`;
        const words = addressWords(ip);
        batch.set(encode(L.NpAddrKey, { addr: words.addr, family: 4 }), i * SLOT + at('dst'));
        batch.writeUInt32LE(client.identity, i * SLOT + at('client'));
        batch.writeUInt32LE(client.cidr, i * SLOT + at('client_cidr'));
        batch.writeUInt16LE(netPort(443), i * SLOT + at('port'));
        batch[i * SLOT + at('proto')] = L.IPPROTO.TCP;
      }
      const key = Buffer.alloc(4);
      const perDecision: number[] = [];
      let allowed = 0;
      for (let b = 0; b < batches; b++) {
        map.update(key, batch);
        const ctx = Buffer.alloc(8);
        ctx.writeUInt32LE(BATCH, 0);
        const start = process.hrtime.bigint();
        const res = prog.testRun({ ctx });
        const ns = Number(process.hrtime.bigint() - start);
        if (res.retval !== 0) throw new Error(`mc_harness_netpol returned ${res.retval}`);
        perDecision.push(ns / BATCH);
        const out = map.lookup(key)!;
        allowed = 0;
        for (let i = 0; i < BATCH; i++) if (out[i * SLOT + at('verdict')] === L.NP_ALLOW) allowed++;
      }
      results.push(`${count} policies: compile ${compileMs.toFixed(1)} ms (${tables.rules.length} rule rows, ${tables.identities.size} identities), map writes ${writeMs.toFixed(1)} ms; kernel check ${median(perDecision).toFixed(1)} ns per decision (median of ${batches} batches of ${BATCH}; ${allowed} of ${BATCH} allowed in the last)`);
      console.log(results[results.length - 1]);
    }
    obj.close();
  } finally {
    removePinDir(pins);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
