// Runs the policy in policy.wasm against tables compiled from inline manifests.
import { parseManifests } from '../../src/model/parse.ts';
import { buildModel } from '../../src/model/build.ts';
import type { Model } from '../../src/model/types.ts';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import { compileTables, type CompiledTables, type FrontendInfo, type TableRow } from '../../src/tables/compile.ts';
import { WasmSink } from '../../src/sinks/wasm.ts';
import { writeTables } from '../../src/sinks/apply.ts';
import { decode, encode, type Row } from '../../src/tables/codec.ts';
import * as L from '../../src/tables/layouts.ts';
import type { PolicyInstance } from '../../src/wasm/instance.ts';
import { xorshift32 } from '../../src/sim/simulate.ts';

export interface Harness {
  model: Model;
  tables: CompiledTables;
  instance: PolicyInstance;
  frontend(name: string, port?: number): FrontendInfo;
  decide(frontend: FrontendInfo, client: bigint, rand: number, now?: bigint): Row;
  /** Writes a live-connection count for a backend, as sockops does in the kernel. */
  setConnections(backendId: number, count: number): void;
  /** Recompiles with `yaml` and loads the new tables; keeps affinity and counters. */
  reload(yaml: string): void;
}

export function modelOf(yaml: string, allowErrors = false): Model {
  const model = buildModel(parseManifests(yaml, 'inline.yaml'));
  const errors = model.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 && !allowErrors) throw new Error(`test manifests have errors: ${JSON.stringify(errors)}`);
  return model;
}

export async function harness(yaml: string, options: { node?: string; allowErrors?: boolean } = {}): Promise<Harness> {
  const instance = await loadPolicyWasm();
  const sink = new WasmSink(instance);
  const wasm = instance.exports;
  const state = { model: modelOf(yaml, options.allowErrors), tables: undefined as unknown as CompiledTables };
  state.tables = compileTables(state.model, options);
  sink.load(state.tables);
  const h: Harness = {
    get model() { return state.model; },
    get tables() { return state.tables; },
    instance,
    frontend(name, port) {
      const f = state.tables.frontends.find((x) => x.service.meta.name === name && (port === undefined || x.port.port === port));
      if (!f) throw new Error(`no frontend ${name}:${port}`);
      return f;
    },
    decide(frontend, client, rand, now = 0n) {
      const ptr = wasm.host_scratch(128);
      instance.bytes().set(frontend.keyBytes, ptr);
      wasm.mc_decide(ptr, client, rand >>> 0, now, ptr + 32);
      return decode(L.Decision, instance.bytes().subarray(ptr + 32, ptr + 32 + L.Decision.size));
    },
    setConnections(backendId, count) {
      sink.write('mc_conns', connectionRows(new Map([[backendId, count]])));
    },
    reload(next) {
      state.model = modelOf(next);
      state.tables = compileTables(state.model, { ...options });
      writeTables(sink, state.tables);
    },
  };
  return h;
}

/** mc_conns rows: live-connection counts per backend id, as sockops keeps them in the kernel. */
export function connectionRows(counts: ReadonlyMap<number, number>): TableRow[] {
  return [...counts].map(([index, count]) => ({ key: encode(L.ArrayIndex, { index }), value: encode(L.Counter, { value: count >>> 0 }) }));
}

/** A Service `name` on port 80 → 8080 with an EndpointSlice of the given endpoints. */
export function serviceYaml(
  name: string,
  endpoints: { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean; node?: string; zone?: string }[],
  spec: Record<string, unknown> = {},
  annotations: Record<string, string> = {},
): string {
  const svc = {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: 'default', annotations },
    spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...spec },
  };
  const slice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${name}-abc`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.zone ? { zone: e.zone } : {}),
    })),
  };
  return `${JSON.stringify(svc)}\n---\n${JSON.stringify(slice)}\n`;
}

/** Counts decisions per backend address (or refusal reason). */
export function tally(rows: Row[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const row of rows) {
    const key = row.verdict === L.VERDICT.translate ? addressOf(row) : `refused:${L.REASONS[Number(row.reason)]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

export function addressOf(row: Row): string {
  const a = Number((row.addr as number[])[0]);
  return [a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24].join('.');
}

/** Pearson's chi-square statistic of observed counts against expected counts. */
export function chiSquare(observed: number[], expected: number[]): number {
  return observed.reduce((sum, o, i) => sum + (o - expected[i]!) ** 2 / expected[i]!, 0);
}

export function* randoms(seed: number): Generator<number> {
  let x = seed >>> 0 || 1;
  while (true) yield (x = xorshift32(x));
}
