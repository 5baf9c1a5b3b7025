// What the agent tells Prometheus after each sync: services, backends, how full each map is,
// and the kernel's refusal counters (mc_metrics, summed over CPUs).
import type { AgentMetrics } from '../metrics/metrics.ts';
import { REFUSAL_METRICS } from '../glue/counters.ts';
import type { Agent, SyncResult } from './agent.ts';

export function observeSync(metrics: AgentMetrics, agent: Agent, result: SyncResult): void {
  metrics.setServices(result.tables.frontends.length);
  metrics.setBackends(result.tables.backends.size);
  for (const [name, entries] of agent.mapUsage()) metrics.setMapUsage(name, entries.entries, entries.capacity);
  observeRefusals(metrics, agent);
}

export function observeRefusals(metrics: AgentMetrics, agent: Agent): void {
  const counters = agent.counters();
  if (!counters) return;
  for (const { index, reason } of REFUSAL_METRICS) metrics.setRefusals(reason, Number(counters[index] ?? 0n));
}
