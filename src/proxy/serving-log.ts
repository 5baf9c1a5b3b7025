// What the agent's log says about where each Service port is decided: one line when a port
// becomes L7 (its routes need the HTTP request), when the node proxy starts or stops serving it,
// or when it stops being L7, never one per sync.

import type { CompiledTables } from '../tables/compile.ts';
import { frontendServing } from './serving.ts';

/** What happens to an L7 port the node proxy does not serve. */
const IN_KERNEL = 'connect() is decided in the kernel on the catch-all rules only (a request only a specific rule matches goes where the catch-all sends it, or is refused when there is none)';

export class ServingLog {
  private readonly l7 = new Map<string, string>();

  /**
   * Lines for the Service ports whose L4 / L7 decision changed since the last call.
   * `notServing`: why the node proxy does not serve the L7 ports that are not steered to it.
   */
  changes(tables: CompiledTables, notServing?: string): string[] {
    const now = new Map<string, string>();
    for (const f of tables.frontends) {
      const key = `Service ${f.service.meta.namespace}/${f.service.meta.name} port ${f.port.port}`;
      if (now.has(key)) continue;
      const serving = frontendServing(f);
      const reasons = [
        ...(serving.producer.layer === 'L7' ? [serving.producer.why] : []),
        ...[...serving.consumers.values()].map((s) => s.why),
      ];
      if (reasons.length === 0) continue;
      const at = (t: { address: string; port: number }) => `${t.address.includes(':') ? `[${t.address}]` : t.address}:${t.port}`;
      const where = f.steered
        ? `served by the node proxy at ${at(f.steered)} (connect() to the ClusterIP is steered there)`
        : serving.producer.layer === 'L7'
          ? `${notServing ?? 'not steered to the node proxy'}, so ${IN_KERNEL}`
          : 'other clients are decided in the kernel';
      const steered = new Map((f.consumers ?? []).map((c) => [c.namespace, c]));
      const consumers = [...serving.consumers.keys()].map((ns) => {
        const c = steered.get(ns);
        return c
          ? `; clients in namespace ${ns}: their consumer routes are served by the node proxy at ${at(c)} (steered by their pods' cgroups)`
          : `; clients in namespace ${ns}: their consumer routes are not applied (${notServing ?? 'not steered to the node proxy'}), they get what other clients get`;
      }).join('');
      now.set(key, `L7 (${reasons.join('; ')}): ${where}${consumers}`);
    }
    const lines: string[] = [];
    for (const [key, line] of now) {
      if (this.l7.get(key) !== line) lines.push(`${key}: ${line}`);
    }
    for (const key of this.l7.keys()) if (!now.has(key)) lines.push(`${key}: now L4, decided in the kernel at connect()`);
    this.l7.clear();
    for (const [key, line] of now) this.l7.set(key, line);
    return lines.sort();
  }
}
