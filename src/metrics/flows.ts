// Flow metrics: connections and refusals per Service and backend, L7 requests by route, rule and
// status, and latency histograms, with Kubernetes names as labels. Cardinality is bounded: each
// metric takes at most `maxSeries` label sets, and a flow past that is counted under labels set to
// "other" (and in meshc_flow_label_overflow_total), never dropped in silence.
import { Counter, Histogram, type Registry } from 'prom-client';

export type ConnectionLabels = {
  service: string;
  backend_service: string;
  backend: string;
  verdict: string;
  reason: string;
};

export type RequestLabels = {
  service: string;
  route: string;
  rule: string;
  backend_service: string;
  backend: string;
  status: string;
};

/** Seconds: 0.5 ms .. 10 s. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export const FLOW_METRIC_NAMES = [
  'meshc_flow_connections_total',
  'meshc_flow_tunnel_connections_total',
  'meshc_l7_requests_total',
  'meshc_l7_request_duration_seconds',
  'meshc_flows_lost_total',
  'meshc_flows_total',
  'meshc_flow_label_overflow_total',
] as const;

class LabelBudget<L extends Record<string, string>> {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number, private readonly keep: readonly (keyof L)[]) {}

  /** The labels as given while under budget (or already seen); else with every label but `keep` set to "other". */
  fit(labels: L): { labels: L; overflow: boolean } {
    const key = Object.values(labels).join('\u0000');
    if (this.seen.has(key)) return { labels, overflow: false };
    if (this.seen.size < this.max) {
      this.seen.add(key);
      return { labels, overflow: false };
    }
    const folded = { ...labels };
    for (const name of Object.keys(folded) as (keyof L)[]) if (!this.keep.includes(name)) folded[name] = 'other' as L[keyof L];
    return { labels: folded, overflow: true };
  }
}

export class FlowMetrics {
  private readonly connections: Counter<keyof ConnectionLabels & string>;
  private readonly requests: Counter<keyof RequestLabels & string>;
  private readonly durations: Histogram<'service' | 'route'>;
  private readonly lostFlows: Counter<'source'>;
  private readonly tunnels: Counter<'direction' | 'verdict' | 'reason'>;
  private readonly allFlows: Counter<'layer'>;
  private readonly overflow: Counter<'metric'>;
  private readonly connectionBudget: LabelBudget<ConnectionLabels>;
  private readonly requestBudget: LabelBudget<RequestLabels>;
  private readonly durationBudget: LabelBudget<{ service: string; route: string }>;

  constructor(registry: Registry, maxSeries = 2000) {
    const registers = [registry];
    this.connections = new Counter({ name: 'meshc_flow_connections_total', help: 'Connections decided in the kernel (L4 flows), by Service dialled, backend Service and pod, verdict and reason; counted while the agent reads the ring buffer', labelNames: ['service', 'backend_service', 'backend', 'verdict', 'reason'], registers });
    this.requests = new Counter({ name: 'meshc_l7_requests_total', help: 'Requests served by the node proxy (L7 flows), by Service dialled, HTTPRoute, rule, backend Service and pod, and status', labelNames: ['service', 'route', 'rule', 'backend_service', 'backend', 'status'], registers });
    this.durations = new Histogram({ name: 'meshc_l7_request_duration_seconds', help: 'Total time of a request through the node proxy (HAProxy %Ta), by Service and HTTPRoute', labelNames: ['service', 'route'], buckets: REQUEST_BUCKETS, registers });
    this.tunnels = new Counter({ name: 'meshc_flow_tunnel_connections_total', help: 'Connections the node tunnel carried with mutual TLS (verdict authenticated) or refused (verdict denied, the tunnel\'s reason), by this node\'s side (outbound from a client pod, inbound to a pod); counted when the agent runs the tunnel', labelNames: ['direction', 'verdict', 'reason'], registers });
    this.allFlows = new Counter({ name: 'meshc_flows_total', help: 'Flows the agent read and named: L4 kernel events (a TCP connection is translated, established and closed: three) and L7 requests', labelNames: ['layer'], registers });
    this.lostFlows = new Counter({ name: 'meshc_flows_lost_total', help: 'Flows lost before the agent named them: ring (the kernel could not reserve ring buffer space), log (unreadable request log lines)', labelNames: ['source'], registers });
    this.overflow = new Counter({ name: 'meshc_flow_label_overflow_total', help: 'Flows counted under "other" labels because the metric had its maximum of label sets', labelNames: ['metric'], registers });
    this.connectionBudget = new LabelBudget(maxSeries, ['service', 'verdict']);
    this.requestBudget = new LabelBudget(maxSeries, ['service']);
    this.durationBudget = new LabelBudget(Math.max(1, Math.floor(maxSeries / 10)), ['service']);
  }

  /** Every flow read, before any is left out of a metric (L4 established and closed events too). */
  flow(layer: 'L4' | 'L7'): void {
    this.allFlows.inc({ layer });
  }

  connection(labels: ConnectionLabels): void {
    this.connectionCounter(labels)();
  }

  /**
   * Counts connections of one label set: the label budget is asked once, and the returned function
   * increments the series (and the overflow count when it was folded) without hashing the labels
   * again. The agent keeps one per kind of kernel event it sees (src/observe/ring.ts).
   */
  connectionCounter(labels: ConnectionLabels): () => void {
    const fit = this.connectionBudget.fit(labels);
    const series = this.connections.labels(fit.labels);
    if (!fit.overflow) return () => series.inc();
    const overflow = this.overflow.labels({ metric: 'meshc_flow_connections_total' });
    return () => {
      overflow.inc();
      series.inc();
    };
  }

  /** meshc_flows_total{layer} as a bound series. */
  flowCounter(layer: 'L4' | 'L7'): () => void {
    const series = this.allFlows.labels({ layer });
    return () => series.inc();
  }

  /** A tunnel connection: its labels are few (two sides, two verdicts, the tunnel's fixed reasons). */
  tunnel(labels: { direction: string; verdict: string; reason: string }): void {
    this.tunnels.inc(labels);
  }

  request(labels: RequestLabels, seconds: number): void {
    const fit = this.requestBudget.fit(labels);
    if (fit.overflow) this.overflow.inc({ metric: 'meshc_l7_requests_total' });
    this.requests.inc(fit.labels);
    const d = this.durationBudget.fit({ service: labels.service, route: labels.route });
    if (d.overflow) this.overflow.inc({ metric: 'meshc_l7_request_duration_seconds' });
    this.durations.observe(d.labels, seconds);
  }

  lost(source: 'ring' | 'log', count: number): void {
    if (count > 0) this.lostFlows.inc({ source }, count);
  }
}
