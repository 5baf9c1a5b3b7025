// Two ways to run the same decisions: the kernel's mc_decide through the syscall harness
// (mc_harness_decide over the mc_harness batch map) and policy.wasm's mc_decide. Both take the
// same input batch (struct mc_harness_slot layout, bpf/meshc_structs.h) and return outputs in
// the same layout, so a comparison is a byte compare per slot.
import { readFileSync } from 'node:fs';
import { McHarnessSlot } from '../../src/generated/glue.ts';
import { loadObject, type BpfObject } from '../../src/loader/index.ts';
import { writeTables } from '../../src/sinks/apply.ts';
import { KernelSink } from '../../src/sinks/kernel.ts';
import { WasmSink } from '../../src/sinks/wasm.ts';
import type { CompiledTables } from '../../src/tables/compile.ts';
import { fieldOffset } from '../../src/tables/codec.ts';
import { instantiatePolicy, type PolicyInstance } from '../../src/wasm/instance.ts';
import { makePinDir, removePinDir } from './env.ts';
import { connectionRows } from '../helpers/policy-harness.ts';

function slotOffset(name: (typeof McHarnessSlot)['fields'][number]['name']): number {
  return fieldOffset(McHarnessSlot, name);
}

/** Byte offsets in struct mc_harness_slot (bpf/meshc_structs.h), from its generated layout. */
export const SLOT = {
  size: McHarnessSlot.size,
  key: slotOffset('key'),
  client: slotOffset('client'),
  now: slotOffset('now'),
  rand: slotOffset('rand'),
  verdict: slotOffset('verdict'),
  out: slotOffset('out'),
} as const;

export interface DecisionInput {
  key: Uint8Array;
  client: bigint;
  rand: number;
  now: bigint;
}

/** Packs inputs into a batch buffer of `capacity` slots (outputs zeroed). */
export function packInputs(inputs: readonly DecisionInput[], capacity = inputs.length): Buffer {
  const buf = Buffer.alloc(capacity * SLOT.size);
  inputs.forEach((input, i) => {
    const base = i * SLOT.size;
    buf.set(input.key, base + SLOT.key);
    buf.writeBigUInt64LE(input.client, base + SLOT.client);
    buf.writeBigUInt64LE(input.now, base + SLOT.now);
    buf.writeUInt32LE(input.rand >>> 0, base + SLOT.rand);
  });
  return buf;
}

export interface Decider {
  load(tables: CompiledTables): void;
  setConnections(counts: ReadonlyMap<number, number>): void;
  /** Runs the first `count` slots of `batch` in order; returns the slots with outputs filled. */
  run(batch: Buffer, count: number): Buffer;
  close(): void;
}

/** The kernel: a fresh load of the object per load(), maps pinned under a test directory. */
export class KernelDecider implements Decider {
  private obj?: BpfObject;
  private pinDir?: string;
  readonly capacity: number;

  constructor(private readonly objectPath: string) {
    this.capacity = 0;
    this.open();
    this.capacity = this.obj!.map('mc_harness').valueSize / SLOT.size;
    if (!Number.isInteger(this.capacity)) {
      throw new Error(`mc_harness value is ${this.obj!.map('mc_harness').valueSize} bytes, not a multiple of the ${SLOT.size}-byte slot`);
    }
  }

  private open(): void {
    this.close();
    this.pinDir = makePinDir('diff');
    try {
      this.obj = loadObject(this.objectPath, { pinRoot: this.pinDir });
    } catch (err) {
      this.close();
      throw err;
    }
  }

  get object(): BpfObject {
    return this.obj!;
  }

  load(tables: CompiledTables): void {
    this.open();
    writeTables(new KernelSink(this.obj!), tables);
  }

  setConnections(counts: ReadonlyMap<number, number>): void {
    new KernelSink(this.obj!).write('mc_conns', connectionRows(counts));
  }

  run(batch: Buffer, count: number): Buffer {
    return runHarnessBatches(this.obj!, 'mc_harness', 'mc_harness_decide', SLOT.size, this.capacity, batch, count);
  }

  close(): void {
    this.obj?.close();
    this.obj = undefined;
    if (this.pinDir) removePinDir(this.pinDir);
    this.pinDir = undefined;
  }
}

/** policy.wasm: one instance, every map cleared and rewritten per load(). */
export class WasmDecider implements Decider {
  private constructor(
    private readonly instance: PolicyInstance,
    private readonly sink: WasmSink,
  ) {}

  static async create(wasmPath: string): Promise<WasmDecider> {
    const instance = await instantiatePolicy(readFileSync(wasmPath));
    return new WasmDecider(instance, new WasmSink(instance));
  }

  load(tables: CompiledTables): void {
    this.sink.load(tables);
  }

  setConnections(counts: ReadonlyMap<number, number>): void {
    this.sink.write('mc_conns', connectionRows(counts));
  }

  run(batch: Buffer, count: number): Buffer {
    const wasm = this.instance.exports;
    const out = Buffer.from(batch.subarray(0, count * SLOT.size));
    const ptr = wasm.host_scratch(SLOT.size);
    for (let i = 0; i < count; i++) {
      const base = i * SLOT.size;
      let memory = this.instance.bytes();
      memory.set(out.subarray(base, base + SLOT.out), ptr);
      memory.fill(0, ptr + SLOT.out, ptr + SLOT.size);
      const verdict = wasm.mc_decide(
        ptr + SLOT.key,
        out.readBigUInt64LE(base + SLOT.client),
        out.readUInt32LE(base + SLOT.rand),
        out.readBigUInt64LE(base + SLOT.now),
        ptr + SLOT.out,
      );
      memory = this.instance.bytes();
      out[base + SLOT.verdict] = verdict;
      out.set(memory.subarray(ptr + SLOT.out, ptr + SLOT.size), base + SLOT.out);
    }
    return out;
  }

  close(): void {}
}

/**
 * Runs `count` slots of `batch` (each `slotSize` bytes) through a SEC("syscall") harness program:
 * `capacity` slots at a time are written to slot 0 of the array map `mapName`, the program runs
 * with ctx { count }, and the slots it filled in are read back, in order.
 */
export function runHarnessBatches(obj: BpfObject, mapName: string, programName: string, slotSize: number, capacity: number, batch: Buffer, count: number): Buffer {
  const out = Buffer.alloc(count * slotSize);
  const map = obj.map(mapName);
  const prog = obj.program(programName);
  const key = Buffer.alloc(4);
  const value = Buffer.alloc(map.valueSize);
  for (let start = 0; start < count; start += capacity) {
    const n = Math.min(capacity, count - start);
    value.fill(0);
    batch.copy(value, 0, start * slotSize, (start + n) * slotSize);
    map.update(key, value);
    const ctx = Buffer.alloc(8);
    ctx.writeUInt32LE(n, 0);
    const res = prog.testRun({ ctx });
    if (res.retval !== 0) throw new Error(`program ${programName}: test_run returned ${res.retval | 0}`);
    map.lookup(key)!.copy(out, start * slotSize, 0, n * slotSize);
  }
  return out;
}
