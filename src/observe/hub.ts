// The agent's flow hub: every flow (L4 from the ring buffer, L7 from HAProxy's request log) is
// named, counted in the metrics and the per-second summary, kept in a bounded ring for late
// subscribers, and sent to the subscribers whose filter it matches. A subscriber takes at most
// `maxPerSecond` flows a second: the rest are counted and said in its next tick (`sampledOut`),
// while the tick's summary counts every flow. Lost flows (the kernel's ring buffer was full, a
// log line could not be read) are told to every subscriber as they are found, never dropped in
// silence.
import type { FlowMetrics } from '../metrics/flows.ts';
import { matchesFilter, type FlowFilter } from './filter.ts';
import type { Flow } from './flow.ts';
import { FlowSummary, type SummaryPlace, type Tick } from './summary.ts';

export interface FlowSink {
  flow(flow: Flow): void;
  lost(count: number, why: string): void;
  tick(tick: Tick & { sampledOut: number }): void;
}

interface Subscriber {
  filter: FlowFilter;
  sink: FlowSink;
  maxPerSecond: number;
  sent: number;
  sampledOut: number;
}

/**
 * What the hub works out once for every flow of one kind (same names, verdict and event; the ring
 * reader keeps one per kind of kernel event) instead of once per flow: where the summary counts it
 * and the bound metric series it increments. Only for L4 flows.
 */
export interface FlowMemo {
  place?: SummaryPlace | undefined;
  placed?: boolean;
  count?: () => void;
}

export interface FlowHubOptions {
  metrics?: FlowMetrics;
  /** Flows kept for subscribers that attach later (default 1,000). */
  recent?: number;
  /** Called when the first subscriber attaches and when the last one leaves. */
  onSubscribers?: (count: number) => void;
  now?: () => number;
}

export class FlowHub {
  private readonly ring: (Flow | undefined)[];
  private next = 0;
  private readonly subscribers = new Set<Subscriber>();
  private readonly summary = new FlowSummary();
  private timer: NodeJS.Timeout | undefined;
  /** Flows published and lost since the hub started. */
  readonly totals = { flows: 0, lost: 0 };

  constructor(private readonly options: FlowHubOptions = {}) {
    this.ring = new Array(options.recent ?? 1000);
  }

  /** Starts the per-second ticks. */
  start(): void {
    this.timer ??= setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  publish(flow: Flow, memo?: FlowMemo): void {
    this.totals.flows++;
    this.ring[this.next] = flow;
    this.next = (this.next + 1) % this.ring.length;
    if (memo && flow.layer === 'L4') {
      if (!memo.placed) {
        memo.place = this.summary.place(flow);
        memo.placed = true;
      }
      this.summary.add(flow, memo.place);
      (memo.count ??= this.l4Counter(flow))();
    } else {
      this.summary.add(flow);
      this.count(flow);
    }
    for (const s of this.subscribers) {
      if (!matchesFilter(flow, s.filter)) continue;
      if (s.sent >= s.maxPerSecond) {
        s.sampledOut++;
        continue;
      }
      s.sent++;
      s.sink.flow(flow);
    }
  }

  lost(count: number, why: string, source: 'ring' | 'log'): void {
    if (count <= 0) return;
    this.totals.lost += count;
    this.options.metrics?.lost(source, count);
    for (const s of this.subscribers) s.sink.lost(count, why);
  }

  /** The kept flows that match `filter`, oldest first. */
  recent(filter: FlowFilter): Flow[] {
    const out: Flow[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const f = this.ring[(this.next + i) % this.ring.length];
      if (f && matchesFilter(f, filter)) out.push(f);
    }
    return out;
  }

  subscribe(filter: FlowFilter, sink: FlowSink, maxPerSecond = 500): () => void {
    const s: Subscriber = { filter, sink, maxPerSecond, sent: 0, sampledOut: 0 };
    this.subscribers.add(s);
    if (this.subscribers.size === 1) this.options.onSubscribers?.(1);
    return () => {
      if (!this.subscribers.delete(s)) return;
      if (this.subscribers.size === 0) this.options.onSubscribers?.(0);
    };
  }

  /** Ends a second: every subscriber gets the summary; their per-second budgets start again. */
  tick(): void {
    const tick = this.summary.tick((this.options.now ?? Date.now)());
    for (const s of this.subscribers) {
      s.sink.tick({ ...tick, sampledOut: s.sampledOut });
      s.sent = 0;
      s.sampledOut = 0;
    }
  }

  /** count() of an L4 flow, with its metric series bound once. */
  private l4Counter(flow: Flow): () => void {
    const metrics = this.options.metrics;
    if (!metrics || flow.identity) return () => this.count(flow);
    const all = metrics.flowCounter('L4');
    if (flow.event === 'established' || flow.event === 'closed') return all;
    const backend = flow.destination.backend;
    const connection = metrics.connectionCounter({ service: flow.destination.service ?? 'unknown', backend_service: backend?.service ?? 'none', backend: backend?.pod ?? 'none', verdict: flow.verdict, reason: flow.reason ?? '' });
    return () => {
      all();
      connection();
    };
  }

  private count(flow: Flow): void {
    const metrics = this.options.metrics;
    if (!metrics) return;
    metrics.flow(flow.layer);
    const service = flow.destination.service ?? 'unknown';
    const backend = flow.destination.backend;
    if (flow.identity) {
      metrics.tunnel({ direction: flow.identity.direction, verdict: flow.verdict, reason: flow.reason ?? '' });
      return;
    }
    if (flow.layer === 'L4') {
      if (flow.event === 'established' || flow.event === 'closed') return;
      metrics.connection({ service, backend_service: backend?.service ?? 'none', backend: backend?.pod ?? 'none', verdict: flow.verdict, reason: flow.reason ?? '' });
      return;
    }
    const http = flow.http!;
    metrics.request({
      service,
      route: http.route ?? 'none',
      rule: http.rule === null ? 'none' : String(http.rule),
      backend_service: backend?.service ?? 'none',
      backend: backend?.pod ?? backend?.address ?? 'none',
      status: String(http.status),
    }, http.durationMs / 1000);
  }
}
