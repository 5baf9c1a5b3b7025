// Per-second aggregates of the flows, computed where every flow is seen (the agent), so the page
// draws the whole traffic even when it is sent only a sample of the flows: edges of the service
// map with their counts by verdict, and per Service the request count, errors and latency
// percentiles of its L7 requests.
import type { Flow, Verdict } from './flow.ts';

export interface EdgeCount {
  from: string;
  to: string;
  kind: 'client' | 'backend';
  count: number;
  verdicts: Partial<Record<Verdict, number>>;
}

export interface ServiceSecond {
  service: string;
  requests: number;
  errors: number;
  /** Latency percentiles of the second's L7 requests, ms (null without any). */
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export interface Tick {
  /** Unix ms at the end of the second. */
  time: number;
  flows: number;
  edges: EdgeCount[];
  services: ServiceSecond[];
}

/** Where a flow is counted: its edges of the map and its Service (the same for every flow of one kind). */
export interface SummaryPlace {
  edges: { key: string; from: string; to: string; kind: EdgeCount['kind'] }[];
  /** Undefined for the node tunnel's flows, which are an edge only. */
  service?: string;
}

/** Counts per window; at most `maxEdges` edges and `maxServices` Services each, the rest counted under `other`. */
export class FlowSummary {
  private edges = new Map<string, EdgeCount>();
  private services = new Map<string, { requests: number; errors: number; latencies: number[] }>();
  private flows = 0;

  constructor(private readonly maxEdges = 500, private readonly maxServices = 200, private readonly maxSamples = 2000) {}

  /**
   * Where `flow` is counted, undefined when it is not: a connection counts once, at its translation
   * (or refusal), not again when established or closed. It depends only on the flow's names, so the
   * agent computes it once per kind of kernel event (src/observe/ring.ts).
   */
  place(flow: Flow): SummaryPlace | undefined {
    if (flow.layer === 'L4' && (flow.event === 'established' || flow.event === 'closed')) return undefined;
    const service = flow.destination.service ?? flow.destination.backend?.address ?? '(unknown service)';
    const client = `client ${flow.source.pod ? `${flow.source.pod.namespace}/${flow.source.pod.name}` : (flow.source.address ?? flow.source.cgroup ?? flow.identity?.source ?? '(unknown client)')}`;
    const backend = flow.destination.backend;
    const pod = `pod ${backend?.pod ?? backend?.address ?? '(unknown pod)'}`;
    const edge = (from: string, to: string, kind: EdgeCount['kind']) => ({ key: `${from}\u0000${to}`, from, to, kind });
    // The node tunnel carries a connection to a pod (whatever the client dialled): one edge from
    // the client to that pod, colored authenticated or denied.
    if (flow.identity) return { edges: [edge(client, pod, 'client')] };
    const edges = [edge(client, `service ${service}`, 'client')];
    if (backend && backend.service !== 'node proxy') edges.push(edge(`service ${service}`, pod, 'backend'));
    return { edges, service };
  }

  add(flow: Flow, place: SummaryPlace | undefined = this.place(flow)): void {
    if (!place) return;
    this.flows++;
    for (const e of place.edges) this.edge(e, flow.verdict);
    const service = place.service;
    if (service === undefined) return;
    let s = this.services.get(service);
    if (!s) {
      if (this.services.size >= this.maxServices) return;
      this.services.set(service, (s = { requests: 0, errors: 0, latencies: [] }));
    }
    s.requests++;
    const failed = flow.verdict === 'refused' || flow.verdict === 'denied' || (flow.http !== undefined && flow.http.status >= 500);
    if (failed) s.errors++;
    if (flow.http && s.latencies.length < this.maxSamples) s.latencies.push(flow.http.durationMs);
  }

  private edge({ key, from, to, kind }: SummaryPlace['edges'][number], verdict: Verdict): void {
    let e = this.edges.get(key);
    if (!e) {
      if (this.edges.size >= this.maxEdges) return;
      this.edges.set(key, (e = { from, to, kind, count: 0, verdicts: {} }));
    }
    e.count++;
    e.verdicts[verdict] = (e.verdicts[verdict] ?? 0) + 1;
  }

  /** The window's counts; starts the next window. */
  tick(time: number): Tick {
    const services = [...this.services].map(([service, s]): ServiceSecond => {
      const sorted = s.latencies.sort((a, b) => a - b);
      return { service, requests: s.requests, errors: s.errors, p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99) };
    });
    const tick = { time, flows: this.flows, edges: [...this.edges.values()], services };
    this.edges = new Map();
    this.services = new Map();
    this.flows = 0;
    return tick;
  }
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
