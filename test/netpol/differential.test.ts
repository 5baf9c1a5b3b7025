// Differential test of network policy: policy.wasm's decideNetwork and the kernel's (the
// generated BPF C through the syscall harness mc_harness_netpol, BPF_PROG_TEST_RUN) get the same
// tables and the same random (client, destination, port, protocol) decisions; every output must
// agree byte for byte (verdict, reason, direction, deciding policy, destination identities).
// At least MESHC_NETPOL_DECISIONS (default 1,000,000) decisions. Needs root.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { compilePolicy } from '../../src/build/compile.ts';
import { loadObject, type BpfObject } from '../../src/loader/index.ts';
import { KernelSink } from '../../src/sinks/kernel.ts';
import { instantiatePolicy, type PolicyInstance } from '../../src/wasm/instance.ts';
import { readFileSync } from 'node:fs';
import { compileNetpol, NP_MAPS, npConfigValue, type NetpolTables } from '../../src/netpol/tables.ts';
import { loadNetpol } from '../../src/netpol/wasm.ts';
import { McNpHarnessSlot } from '../../src/generated/glue.ts';
import * as L from '../../src/tables/layouts.ts';
import { addressWords, decode, encode, fieldOffset, hex, netPort } from '../../src/tables/codec.ts';
import { kernelSkipReason, kernelSuite, makePinDir, removePinDir } from '../kernel/env.ts';
import { runHarnessBatches } from '../kernel/deciders.ts';
import { randomDecision, randomPolicyModel, Rng, type NetDecisionInput } from './random-policies.ts';

const DECISIONS = Number(process.env.MESHC_NETPOL_DECISIONS ?? 1_000_000);
const MODELS = 40;
/**
 * Byte offsets in struct mc_np_harness_slot (bpf/meshc_netpol.h), from its generated layout: verdict
 * is the hooks' verdict (with the switch's shortcut), out the whole decision, fast (kernel only)
 * says the shortcut decided. Wasm and kernel must agree on the bytes before `fast`.
 */
function slotOffset(name: (typeof McNpHarnessSlot)['fields'][number]['name']): number {
  return fieldOffset(McNpHarnessSlot, name);
}
const SLOT = {
  size: McNpHarnessSlot.size, dst: slotOffset('dst'), client: slotOffset('client'), clientCidr: slotOffset('client_cidr'),
  port: slotOffset('port'), proto: slotOffset('proto'), verdict: slotOffset('verdict'), out: slotOffset('out'),
  fast: slotOffset('fast'), compared: slotOffset('fast'),
} as const;

function pack(inputs: readonly NetDecisionInput[]): Buffer {
  const buf = Buffer.alloc(inputs.length * SLOT.size);
  inputs.forEach((input, i) => {
    const base = i * SLOT.size;
    const words = addressWords(input.ip);
    buf.set(encode(L.NpAddrKey, { addr: words.addr, family: words.family }), base + SLOT.dst);
    buf.writeUInt32LE(input.client >>> 0, base + SLOT.client);
    buf.writeUInt32LE(input.clientCidr >>> 0, base + SLOT.clientCidr);
    buf.writeUInt16LE(netPort(input.port), base + SLOT.port);
    buf[base + SLOT.proto] = L.IPPROTO[input.protocol];
  });
  return buf;
}

class KernelNetpol {
  private obj?: BpfObject;
  private pinDir?: string;
  readonly capacity: number;
  constructor(private readonly objectPath: string) {
    this.open();
    this.capacity = this.obj!.map('mc_np_harness').valueSize / SLOT.size;
  }
  private open(): void {
    this.close();
    this.pinDir = makePinDir('netpol');
    try {
      this.obj = loadObject(this.objectPath, { pinRoot: this.pinDir });
    } catch (err) {
      this.close();
      throw err;
    }
  }
  private previous?: NetpolTables;
  /** Replaces the rows of the last load (one object for the whole run: loading one takes seconds). */
  load(tables: NetpolTables): void {
    const sink = new KernelSink(this.obj!);
    if (this.previous) for (const name of NP_MAPS) sink.remove(name, [...this.previous.rows.get(name)!.values()]);
    for (const name of NP_MAPS) sink.write(name, [...tables.rows.get(name)!.values()]);
    this.obj!.map('mc_np_config').update(new Uint8Array(4), npConfigValue(tables));
    this.previous = tables;
  }
  run(batch: Buffer, count: number): Buffer {
    return runHarnessBatches(this.obj!, 'mc_np_harness', 'mc_harness_netpol', SLOT.size, this.capacity, batch, count);
  }
  close(): void {
    this.obj?.close();
    this.obj = undefined;
    if (this.pinDir) removePinDir(this.pinDir);
    this.pinDir = undefined;
  }
}

/** Per identity and direction with rule rows by pod: whether its identity row holds them all (decided without a rule lookup). */
function countInlining(tables: NetpolTables, into: { inlined: number; lookedUp: number }): void {
  const withPodRows = new Set(tables.rules.filter((r) => tables.identities.get(r.peer)?.kind === 'pods' && r.ranges.length > 0).map((r) => `${r.subject}/${r.direction}`));
  for (const { key, value } of tables.rows.get('mc_np_identities')!.values()) {
    const id = new DataView(key.buffer, key.byteOffset).getUint32(0, true);
    const row = decode(L.NpIdentity, value);
    for (const direction of ['egress', 'ingress'] as const) {
      if (!withPodRows.has(`${id}/${direction}`)) continue;
      if (direction === 'egress' ? row.inline_egress : row.inline_ingress) into.inlined++;
      else into.lookedUp++;
    }
  }
}

function runWasm(instance: PolicyInstance, batch: Buffer, count: number): Buffer {
  const out = Buffer.from(batch.subarray(0, count * SLOT.size));
  const ptr = instance.exports.host_scratch(SLOT.size);
  for (let i = 0; i < count; i++) {
    const base = i * SLOT.size;
    const memory = instance.bytes();
    memory.set(out.subarray(base + SLOT.dst, base + SLOT.client), ptr);
    memory.fill(0, ptr + SLOT.out, ptr + SLOT.compared);
    const verdict = instance.exports.mc_decide_network(
      out.readUInt32LE(base + SLOT.client), out.readUInt32LE(base + SLOT.clientCidr), ptr,
      out.readUInt16LE(base + SLOT.port), out[base + SLOT.proto]!, ptr + SLOT.out,
    );
    out[base + SLOT.verdict] = verdict;
    out.set(instance.bytes().subarray(ptr + SLOT.out, ptr + SLOT.compared), base + SLOT.out);
  }
  return out;
}

kernelSuite('netpol differential: Wasm and kernel', kernelSkipReason(), (s) => {
  let dir = '';
  let kernel: KernelNetpol | undefined;
  let wasm: PolicyInstance;
  let setupError: Error | undefined;
  s.before(async () => {
    try {
      dir = mkdtempSync(path.join(tmpdir(), 'meshc-npdiff-'));
      const built = await compilePolicy({ outDir: dir });
      kernel = new KernelNetpol(built.object);
      wasm = await instantiatePolicy(readFileSync(built.wasm!));
    } catch (err) {
      setupError = err as Error;
    }
  });
  s.after(() => {
    kernel?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  s(`${DECISIONS} random decisions over ${MODELS} random clusters: 0 differences`, () => {
    if (setupError) throw new Error(`setup failed: ${setupError.message}\n${(setupError as { detail?: string }).detail ?? ''}`);
    const rng = new Rng(0x6e70);
    const perModel = Math.ceil(DECISIONS / MODELS);
    let decisions = 0;
    let differences = 0;
    const outcomes: Record<string, number> = {};
    let first = '';
    let rules = 0;
    let fast = 0;
    let switchedOff = 0;
    const inlining = { inlined: 0, lookedUp: 0 };
    for (let m = 0; m < MODELS; m++) {
      const model = randomPolicyModel(rng);
      // Some clusters without ingress policies, or without any, so the switch's shortcuts
      // (mc_np_config: nothing isolated for ingress, or nothing at all) decide too.
      if (m % 5 === 3) model.networkPolicies = (model.networkPolicies ?? []).map((p) => ({ ...p, ingress: undefined }));
      if (m % 10 === 9) model.networkPolicies = [];
      const tables = compileNetpol(model);
      rules += tables.rules.length;
      countInlining(tables, inlining);
      kernel!.load(tables);
      loadNetpol(wasm, tables);
      const inputs = Array.from({ length: perModel }, () => randomDecision(rng, model, tables));
      const batch = pack(inputs);
      const k = kernel!.run(batch, inputs.length);
      const w = runWasm(wasm, batch, inputs.length);
      if (tables.isolated.egress === 0 && tables.isolated.ingress === 0) switchedOff += inputs.length;
      for (let i = 0; i < inputs.length; i++) {
        const a = k.subarray(i * SLOT.size, i * SLOT.size + SLOT.compared);
        const b = w.subarray(i * SLOT.size, i * SLOT.size + SLOT.compared);
        fast += k[i * SLOT.size + SLOT.fast]!;
        decisions++;
        const verdict = a[SLOT.verdict] === L.NP_ALLOW ? 'allow' : 'deny';
        const reason = a[SLOT.out + 1]!;
        const key = `${verdict}/${reason}`;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        if (!a.equals(b)) {
          differences++;
          if (!first) first = `${JSON.stringify(inputs[i])}: kernel ${hex(a)} wasm ${hex(b)}`;
        }
      }
    }
    console.log(`  ${decisions} decisions, ${differences} differences, ${rules} rule rows over ${MODELS} clusters; verdict/reason: ${JSON.stringify(outcomes)}; ${fast} decided by the switch's shortcut (${switchedOff} with nothing isolated); identity directions with rules by pod: ${inlining.inlined} in the identity row, ${inlining.lookedUp} looked up`);
    assert.ok(decisions >= DECISIONS);
    // Both ways of a rule by pod were exercised: from the identity row's entries and by lookup.
    assert.ok(inlining.inlined >= 20 && inlining.lookedUp >= 20, JSON.stringify(inlining));
    // The shortcut decided a good share, beyond the clusters where nothing is isolated at all.
    assert.ok(fast > switchedOff + decisions / 20, `shortcut: ${fast} of ${decisions}, ${switchedOff} with nothing isolated`);
    assert.is(differences, 0, first);
    // The run exercised every outcome: unselected, allowed by a rule, denied at egress and at ingress.
    for (const key of ['allow/0', 'allow/1', 'deny/2', 'deny/3']) assert.ok((outcomes[key] ?? 0) > decisions / 100, `too few ${key}: ${JSON.stringify(outcomes)}`);
  });
});
