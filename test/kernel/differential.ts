// The differential run: the same tables in policy.wasm and in the kernel's maps, the same
// decision inputs in the same order through both, every output byte compared.
import { compileTables, type CompiledTables } from '../../src/tables/compile.ts';
import { decode, encode } from '../../src/tables/codec.ts';
import * as L from '../../src/tables/layouts.ts';
import type { Model } from '../../src/model/types.ts';
import { packInputs, SLOT, type Decider, type DecisionInput } from './deciders.ts';
import { Rng } from './random-model.ts';

export interface RunOptions {
  decisions: number;
  /** Rewrite random live-connection counts on both sides every `connsEvery` decisions (least-conn). */
  connsEvery?: number;
  /** Decisions per batch handed to both sides. */
  batch?: number;
  /** Steer frontends with producer routes to a node proxy listener, as the agent does for L7 ones. */
  steer?: boolean;
}

export interface Difference {
  index: number;
  input: { key: string; client: string; rand: number; now: string };
  kernel: Record<string, unknown>;
  wasm: Record<string, unknown>;
}

export interface RunStats {
  decisions: number;
  differences: number;
  examples: Difference[];
  verdicts: { pass: number; translate: number; refuse: number };
  reasons: Record<string, number>;
  /** Distinct (service id, backend id) pairs chosen: shows the run was not degenerate. */
  distinctChoices: number;
  /** Translations to a node proxy listener (RunOptions.steer). */
  steered: number;
}

export function emptyStats(): RunStats {
  return { decisions: 0, differences: 0, examples: [], verdicts: { pass: 0, translate: 0, refuse: 0 }, reasons: {}, distinctChoices: 0, steered: 0 };
}

export function mergeStats(into: RunStats, from: RunStats): void {
  into.decisions += from.decisions;
  into.differences += from.differences;
  into.examples.push(...from.examples.slice(0, Math.max(0, 5 - into.examples.length)));
  into.verdicts.pass += from.verdicts.pass;
  into.verdicts.translate += from.verdicts.translate;
  into.verdicts.refuse += from.verdicts.refuse;
  for (const [reason, n] of Object.entries(from.reasons)) into.reasons[reason] = (into.reasons[reason] ?? 0) + n;
  into.distinctChoices += from.distinctChoices;
  into.steered += from.steered;
}

/** Keys that are no service: other addresses, a service address with another port or protocol. */
function strayKeys(tables: CompiledTables, rng: Rng): Uint8Array[] {
  const keys: Uint8Array[] = [];
  for (let i = 0; i < 4; i++) {
    keys.push(encode(L.ServiceKey, { addr: [rng.u32(), 0, 0, 0], port: rng.int(65536), proto: L.IPPROTO.TCP, family: 4 }));
  }
  for (const f of tables.frontends.slice(0, 3)) {
    const key = decode(L.ServiceKey, f.keyBytes);
    const otherPort = encode(L.ServiceKey, { ...key, port: key.port ^ 0x55 });
    const otherProto = encode(L.ServiceKey, { ...key, proto: key.proto === L.IPPROTO.TCP ? L.IPPROTO.UDP : L.IPPROTO.TCP });
    keys.push(otherPort, otherProto);
  }
  return keys;
}

/** A random live-connection count per backend, sometimes huge (u32 compares must agree). */
function randomConnections(tables: CompiledTables, rng: Rng): Map<number, number> {
  const counts = new Map<number, number>();
  for (const id of tables.backends.keys()) counts.set(id, rng.chance(0.05) ? rng.u32() : rng.int(8));
  return counts;
}

/**
 * Compiles `model` for `node`, loads the rows into both deciders, then runs `decisions` random
 * decisions (frontends of the model, plus a few non-service keys; a small client pool; time
 * moving in small steps with rare jumps past affinity timeouts) through both and compares.
 */
export function runDifferential(
  model: Model, node: string | undefined, kernel: Decider, wasm: Decider, rng: Rng, options: RunOptions,
): RunStats {
  const ports = new Map<string, number>();
  const proxy = options.steer
    ? (f: { service: { meta: { namespace: string; name: string } }; port: { port: number }; family: 4 | 6 }) => {
      const name = `${f.service.meta.namespace}/${f.service.meta.name}:${f.port.port}`;
      if (!ports.has(name)) ports.set(name, 15001 + ports.size);
      return { address: f.family === 4 ? '10.255.0.1' : 'fd00:255::1', port: ports.get(name)! };
    }
    : undefined;
  const tables = compileTables(model, { node, proxy });
  const steeredIds = new Set([...tables.backends.values()].filter((b) => b.ip === '10.255.0.1' || b.ip === 'fd00:255::1').map((b) => b.id));
  kernel.load(tables);
  wasm.load(tables);
  const stats = emptyStats();
  const services = tables.frontends.map((f) => f.keyBytes);
  const strays = strayKeys(tables, rng);
  const clients = Array.from({ length: 32 + rng.int(200) }, () => (rng.chance(0.1) ? BigInt(rng.u32()) : rng.u64()));
  let now = 1_000_000_000n + BigInt(rng.u32()) * 1000n;
  const batchSize = options.batch ?? 16384;
  const choices = new Set<string>();
  let sinceConns = Infinity;
  for (let done = 0; done < options.decisions; ) {
    if (options.connsEvery && sinceConns >= options.connsEvery) {
      const counts = randomConnections(tables, rng);
      kernel.setConnections(counts);
      wasm.setConnections(counts);
      sinceConns = 0;
    }
    const n = Math.min(batchSize, options.decisions - done, options.connsEvery ?? Infinity);
    const inputs: DecisionInput[] = [];
    for (let i = 0; i < n; i++) {
      now += rng.chance(0.002) ? BigInt(rng.u32()) * 20n : BigInt(rng.int(20_000_000));
      const key = services.length > 0 && !rng.chance(0.08) ? rng.pick(services) : rng.pick(strays);
      inputs.push({ key, client: rng.pick(clients), rand: rng.u32(), now });
    }
    const batch = packInputs(inputs);
    const fromKernel = kernel.run(batch, n);
    const fromWasm = wasm.run(batch, n);
    for (let i = 0; i < n; i++) {
      const a = fromKernel.subarray(i * SLOT.size + SLOT.verdict, (i + 1) * SLOT.size);
      const b = fromWasm.subarray(i * SLOT.size + SLOT.verdict, (i + 1) * SLOT.size);
      const verdict = fromWasm[i * SLOT.size + SLOT.verdict]!;
      const out = decode(L.Decision, fromWasm.subarray(i * SLOT.size + SLOT.out, (i + 1) * SLOT.size));
      if (verdict === L.VERDICT.pass) stats.verdicts.pass++;
      else if (verdict === L.VERDICT.translate) {
        stats.verdicts.translate++;
        choices.add(`${out.svc_id}/${out.backend_id}`);
        if (steeredIds.has(Number(out.backend_id))) stats.steered++;
      } else {
        stats.verdicts.refuse++;
        const reason = L.REASONS[Number(out.reason)] ?? `reason-${out.reason}`;
        stats.reasons[reason] = (stats.reasons[reason] ?? 0) + 1;
      }
      if (Buffer.compare(a, b) === 0) continue;
      stats.differences++;
      if (stats.examples.length < 5) {
        const input = inputs[i]!;
        stats.examples.push({
          index: done + i,
          input: { key: Buffer.from(input.key).toString('hex'), client: input.client.toString(), rand: input.rand, now: input.now.toString() },
          kernel: { ...decode(L.Decision, fromKernel.subarray(i * SLOT.size + SLOT.out, (i + 1) * SLOT.size)), verdict: fromKernel[i * SLOT.size + SLOT.verdict] },
          wasm: { ...out, verdict },
        });
      }
    }
    stats.decisions += n;
    done += n;
    sinceConns += n;
  }
  stats.distinctChoices = choices.size;
  return stats;
}

/** JSON of a difference that survives bigints. */
export function describe(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
}
