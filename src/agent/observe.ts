// What the agent tells Prometheus after each sync: services, backends, how full each map is,
// and the kernel's refusal counters (mc_metrics, summed over CPUs).
import type { AgentMetrics } from '../metrics/metrics.ts';
import { sumPerCpu } from '../inspect/read.ts';
import { reasonName } from '../inspect/decode.ts';
import type { Agent, SyncResult } from './agent.ts';

/** mc_metrics indexes 1..7 count refusals by reason (bpf/meshc_consts.h). */
const REFUSAL_INDEXES = [1, 2, 3, 4, 5, 6, 7];

export function observeSync(metrics: AgentMetrics, agent: Agent, result: SyncResult): void {
  metrics.setServices(result.tables.frontends.length);
  metrics.setBackends(result.tables.backends.size);
  for (const [name, entries] of agent.mapUsage()) metrics.setMapUsage(name, entries.entries, entries.capacity);
  observeRefusals(metrics, agent);
}

export function observeRefusals(metrics: AgentMetrics, agent: Agent): void {
  const counters = agent.counters();
  if (!counters) return;
  for (const index of REFUSAL_INDEXES) {
    metrics.setRefusals(index === 7 ? 'other' : reasonName(index), Number(counters[index] ?? 0n));
  }
}

