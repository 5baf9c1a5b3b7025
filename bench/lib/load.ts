// Client load: wrk at saturation (closed loop), bench/lib/loadgen.c at a fixed rate (open loop).
// Both report latency percentiles in microseconds; the runner reads one JSON line from each.
import type { Lab, Placement } from './lab.ts';
import { WRK_SCRIPT, type Tools } from './tools.ts';

export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  tool: 'wrk' | 'loadgen';
  /** Requests measured (after the warm-up). */
  requests: number;
  /** Every request the run made, warm-up included: what per-request costs divide by. */
  completed: number;
  seconds: number;
  requestsPerSecond: number;
  errors: number;
  latencyUs: Latency;
}

export interface LoadOptions {
  connections: number;
  seconds: number;
  /** A new connection per request (Connection: close). */
  close: boolean;
}

function jsonLine(out: string, marker: string, what: string): Record<string, any> {
  const line = out.split('\n').find((l) => l.startsWith(marker));
  if (!line) throw new Error(`${what}: no JSON summary in its output: ${out.slice(-400)}`);
  return JSON.parse(line) as Record<string, any>;
}

/** wrk, one thread, `connections` connections, for `seconds`. */
export async function saturate(lab: Lab, where: Placement, url: string, o: LoadOptions): Promise<LoadResult> {
  const argv = ['wrk', '-t1', `-c${o.connections}`, `-d${Math.max(1, Math.round(o.seconds))}s`, '--timeout', '5s', '-s', WRK_SCRIPT, ...(o.close ? ['-H', 'Connection: close'] : []), url];
  const out = await lab.exec(where, argv, (o.seconds + 30) * 1000);
  const r = jsonLine(out, '{"wrk"', `wrk ${url}`);
  const seconds = r.durationUs / 1e6;
  const e = r.errors as Record<string, number>;
  return {
    tool: 'wrk',
    requests: r.requests,
    completed: r.requests,
    seconds,
    requestsPerSecond: r.requests / seconds,
    errors: e.connect! + e.read! + e.write! + e.status! + e.timeout!,
    latencyUs: r.latencyUs,
  };
}

/** loadgen at `rate` requests/s (after `warmup` seconds that are not recorded). */
export async function fixedRate(lab: Lab, where: Placement, tools: Tools, addr: string, o: LoadOptions & { rate: number; warmup: number }): Promise<LoadResult & { maxQueued: number }> {
  const argv = [tools.loadgen, '--addr', addr, '--rate', String(o.rate), '--duration', String(o.seconds), '--warmup', String(o.warmup), '--conns', String(o.connections), ...(o.close ? ['--close'] : [])];
  const out = await lab.exec(where, argv, (o.seconds + o.warmup + 30) * 1000);
  const r = jsonLine(out, '{"requests"', `loadgen ${addr}`);
  return {
    tool: 'loadgen',
    requests: r.requests,
    completed: r.completed,
    seconds: o.seconds,
    requestsPerSecond: r.requests / o.seconds,
    // Requests still unanswered 5 s after the last was due count as errors.
    errors: r.errors + r.unfinished,
    latencyUs: r.latencyUs,
    maxQueued: r.maxQueued,
  };
}
