// The agent's Prometheus metrics (prom-client), in a registry of their own. The Kubernetes source
// reports watch restarts, relists and events (it calls them as its SourceMetrics); the agent sets
// the table and kernel figures (services, backends, map fill, refusals read from the BPF metrics
// map) and observes the network programming latency after each map write. The shapes read here
// are declared here, so metrics depends on neither the source nor the agent.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The sync state the gauges show (KubeSource.status() has it). */
export interface SyncState {
  synced: boolean;
  stale: boolean;
  /** How long the source has been stale (0 when it is not). */
  staleForMs: number;
}

/** Rows written and removed per map by one reconciliation (the agent's ApplyStats). */
export interface RowCounts {
  written: Record<string, number>;
  removed: Record<string, number>;
}

export interface AgentMetricsOptions {
  /** Registry to register in; a new one by default. */
  registry?: Registry;
  /** Node.js process metrics (resident memory, CPU, event loop lag). Default true. */
  processMetrics?: boolean;
}

/** Seconds: 1 ms .. 30 s, around the Kubernetes SLO for network programming latency. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class AgentMetrics {
  readonly registry: Registry;
  private readonly services: Gauge;
  private readonly backends: Gauge;
  private readonly mapEntries: Gauge<'map'>;
  private readonly mapCapacity: Gauge<'map'>;
  private readonly mapFill: Gauge<'map'>;
  private readonly refusals: Counter<'reason'>;
  private readonly refusalTotals = new Map<string, number>();
  private readonly programming: Histogram;
  private readonly watchRestarts: Counter<'resource' | 'reason'>;
  private readonly relists: Counter<'resource'>;
  private readonly objectEvents: Counter<'resource' | 'type'>;
  private readonly mapWrites: Counter<'map' | 'op'>;
  private readonly reconciles: Counter<'result'>;
  private readonly reconcileSeconds: Histogram;
  private sourceStatus?: () => SyncState;

  constructor(options: AgentMetricsOptions = {}) {
    const registers = [(this.registry = options.registry ?? new Registry())];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    const self = this;
    this.services = new Gauge({ name: 'meshc_services', help: 'Service frontends (ClusterIP:port) programmed into the maps', registers });
    this.backends = new Gauge({ name: 'meshc_backends', help: 'Backends (endpoint IP:port) programmed into the maps', registers });
    this.mapEntries = new Gauge({ name: 'meshc_map_entries', help: 'Entries in each BPF map', labelNames: ['map'], registers });
    this.mapCapacity = new Gauge({ name: 'meshc_map_capacity', help: 'max_entries of each BPF map', labelNames: ['map'], registers });
    this.mapFill = new Gauge({ name: 'meshc_map_fill_ratio', help: 'Entries / max_entries of each BPF map', labelNames: ['map'], registers });
    this.refusals = new Counter({ name: 'meshc_refusals_total', help: 'connect() calls refused by the kernel hooks, by reason', labelNames: ['reason'], registers });
    this.programming = new Histogram({
      name: 'meshc_network_programming_latency_seconds',
      help: 'From an object change seen by the informer to the map write that applies it',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.watchRestarts = new Counter({ name: 'meshc_kube_watch_restarts_total', help: 'Watches opened again after one ended (closed, error, expired = 410 Gone)', labelNames: ['resource', 'reason'], registers });
    this.relists = new Counter({ name: 'meshc_kube_relists_total', help: 'Full lists after the first one (after 410 Gone)', labelNames: ['resource'], registers });
    this.objectEvents = new Counter({ name: 'meshc_kube_object_events_total', help: 'Object changes received from lists and watches', labelNames: ['resource', 'type'], registers });
    this.mapWrites = new Counter({ name: 'meshc_map_writes_total', help: 'Rows written or removed in the BPF maps', labelNames: ['map', 'op'], registers });
    this.reconciles = new Counter({ name: 'meshc_reconciles_total', help: 'Model-to-maps reconciliations, by result', labelNames: ['result'], registers });
    this.reconcileSeconds = new Histogram({ name: 'meshc_reconcile_duration_seconds', help: 'Time to build the model, compile tables and write the maps', buckets: LATENCY_BUCKETS, registers });
    new Gauge({
      name: 'meshc_kube_synced',
      help: '1 once every watched resource has been listed in full',
      registers,
      collect() {
        this.set(self.sourceStatus?.().synced ? 1 : 0);
      },
    });
    new Gauge({
      name: 'meshc_kube_stale',
      help: '1 while a list or watch is failing: the maps hold the last known state',
      registers,
      collect() {
        this.set(self.sourceStatus?.().stale ? 1 : 0);
      },
    });
    new Gauge({
      name: 'meshc_kube_sync_lag_seconds',
      help: 'How long the API server has been unreachable (0 while every watch is up)',
      registers,
      collect() {
        this.set((self.sourceStatus?.().staleForMs ?? 0) / 1000);
      },
    });
  }

  /** The source whose synced / stale / lag the gauges show. */
  bindSource(source: { status(): SyncState }): void {
    this.sourceStatus = () => source.status();
  }

  setServices(count: number): void {
    this.services.set(count);
  }

  setBackends(count: number): void {
    this.backends.set(count);
  }

  setMapUsage(map: string, entries: number, capacity: number): void {
    if (!(capacity > 0)) throw new Error(`setMapUsage ${map}: capacity must be > 0 (got ${capacity})`);
    this.mapEntries.set({ map }, entries);
    this.mapCapacity.set({ map }, capacity);
    this.mapFill.set({ map }, entries / capacity);
  }

  /**
   * Sets a refusal counter from the kernel's cumulative count (the BPF metrics map). A count
   * lower than the last one means the map was recreated: the new count is added as it is.
   */
  setRefusals(reason: string, total: number): void {
    const last = this.refusalTotals.get(reason) ?? 0;
    const delta = total >= last ? total - last : total;
    this.refusalTotals.set(reason, total);
    if (delta > 0) this.refusals.inc({ reason }, delta);
    else this.refusals.inc({ reason }, 0);
  }

  /**
   * Observes the programming latency of every change a map write applied: `writtenAt` and the
   * changes' `seenAt` are on the source's clock (KubeSource.now()), in milliseconds.
   */
  observeProgramming(changes: readonly { seenAt: number }[], writtenAt: number): void {
    for (const change of changes) this.programming.observe(Math.max(0, writtenAt - change.seenAt) / 1000);
  }

  /** Counts one reconciliation and its row writes. */
  recordApply(stats: RowCounts | undefined, durationMs: number, result: 'ok' | 'error' = 'ok'): void {
    this.reconciles.inc({ result });
    this.reconcileSeconds.observe(durationMs / 1000);
    for (const [map, rows] of Object.entries(stats?.written ?? {})) this.mapWrites.inc({ map, op: 'write' }, rows);
    for (const [map, rows] of Object.entries(stats?.removed ?? {})) this.mapWrites.inc({ map, op: 'remove' }, rows);
  }

  watchRestarted(resource: string, reason: 'closed' | 'error' | 'expired'): void {
    this.watchRestarts.inc({ resource, reason });
  }

  relisted(resource: string): void {
    this.relists.inc({ resource });
  }

  objectEvent(resource: string, type: 'added' | 'modified' | 'deleted'): void {
    this.objectEvents.inc({ resource, type });
  }

  /** The exposition text, as /metrics serves it. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
