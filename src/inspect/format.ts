// `meshc inspect`'s table: one block per service frontend, its weighted groups and backends below
// it, in the spirit of `cilium bpf lb list`.
import { formatTable } from '../text/table.ts';
import type { InspectBackend, InspectResult, InspectService } from './decode.ts';

function backendRows(backends: InspectBackend[]): string[][] {
  return backends.map((b) => [
    b.ip.includes(':') ? `[${b.ip}]:${b.port}` : `${b.ip}:${b.port}`,
    b.state,
    `slot ${b.slot}`,
    `conns ${b.conns}`,
    b.pod ?? `(backend ${b.id})`,
  ]);
}

function frontend(s: InspectService): string {
  return `${s.family === 6 ? `[${s.vip}]` : s.vip}:${s.port}/${s.protocol}`;
}

function flagText(s: InspectService): string {
  if (s.flags.length === 0) return '-';
  return s.flags.map((f) => (f === 'affinity' && s.affinityTimeout !== undefined ? `affinity(${s.affinityTimeout}s)` : f)).join(',');
}

export function formatInspect(result: InspectResult): string {
  const lines: string[] = [];
  if (result.services.length === 0) lines.push('no service frontends in the maps');
  const headers = formatTable([
    ['FRONTEND', 'SERVICE', 'ALGORITHM', 'FLAGS', 'LAYER'],
    ...result.services.map((s) => [frontend(s), s.name ?? '(no name)', s.algorithm, flagText(s), s.serving.layer]),
  ]);
  lines.push(headers[0]!);
  result.services.forEach((s, i) => {
    lines.push(headers[i + 1]!);
    const body: string[][] = [];
    const marks: { at: number; text: string }[] = [];
    if (s.serving.layer === 'L7') marks.push({ at: 0, text: `L7: ${s.serving.why}` });
    if (s.serving.proxy !== undefined) {
      // The one backend is the proxy's listener: said above.
    } else if (s.groups.length > 0) {
      for (const g of s.groups) {
        const target = g.invalid ? 'invalid backendRef: its share is refused' : g.targets.join(', ') || `backend table ${g.table}`;
        marks.push({ at: body.length, text: `group ${g.index}  weight ${g.weight} (${g.percent.toFixed(1)}%)  -> ${target}` });
        body.push(...backendRows(g.backends));
      }
      marks.push({ at: body.length, text: `own endpoints (not used while the route's groups decide): ${s.backends.length}` });
    } else if (s.backends.length === 0) {
      marks.push({ at: 0, text: 'no backends: connect() is refused (ECONNREFUSED)' });
    } else {
      body.push(...backendRows(s.backends));
    }
    const aligned = formatTable(body, { indent: '      ' });
    let next = 0;
    for (let row = 0; row <= aligned.length; row++) {
      while (next < marks.length && marks[next]!.at === row) lines.push(`    ${marks[next++]!.text}`);
      if (row < aligned.length) lines.push(aligned[row]!);
    }
  });
  if (result.metrics) {
    const nonZero = Object.entries(result.metrics).filter(([, v]) => v !== '0');
    lines.push('', `counters: ${nonZero.length === 0 ? 'all zero' : nonZero.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  for (const p of result.problems) lines.push(`problem: ${p}`);
  return `${lines.join('\n')}\n`;
}
