// What the agent's log says about where each Service port is decided: one line when a port
// becomes L7 (its routes need the HTTP request) or stops being L7, never one per sync. The agent
// does not run the node proxy or steer to it yet, so an L7 port's line says what happens instead.

import type { CompiledTables } from '../tables/compile.ts';
import { frontendServing } from './serving.ts';

const NOT_LIVE = 'the agent does not run the node proxy yet, so connect() is decided in the kernel on the catch-all rules only (a request only a specific rule matches goes where the catch-all sends it, or is refused when there is none)';

export class ServingLog {
  private readonly l7 = new Map<string, string>();

  /** Lines for the Service ports whose L4 / L7 decision changed since the last call. */
  changes(tables: CompiledTables): string[] {
    const now = new Map<string, string>();
    for (const f of tables.frontends) {
      const key = `Service ${f.service.meta.namespace}/${f.service.meta.name} port ${f.port.port}`;
      if (now.has(key)) continue;
      const serving = frontendServing(f);
      const reasons = [
        ...(serving.producer.layer === 'L7' ? [serving.producer.why] : []),
        ...[...serving.consumers.values()].map((s) => s.why),
      ];
      if (reasons.length > 0) now.set(key, reasons.join('; '));
    }
    const lines: string[] = [];
    for (const [key, why] of now) {
      if (this.l7.get(key) !== why) lines.push(`${key}: L7 (${why}): ${NOT_LIVE}`);
    }
    for (const key of this.l7.keys()) if (!now.has(key)) lines.push(`${key}: now L4, decided in the kernel at connect()`);
    this.l7.clear();
    for (const [key, why] of now) this.l7.set(key, why);
    return lines.sort();
  }
}
