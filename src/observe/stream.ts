// Reading the agent's /flows stream (Server-Sent Events) and printing flows, for `meshc monitor
// --agent` (and --type l7, whose flows only the agent has).
import http from 'node:http';
import { filterQuery, type FlowFilter } from './filter.ts';
import type { Flow } from './flow.ts';

export interface StreamHandlers {
  /** The agent answered: from now on every flow reaches this stream. */
  open?(): void;
  flow(flow: Flow): void;
  lost(count: number, why: string): void;
  /** Per second: flows the agent left out of this stream (over `max` a second). */
  sampledOut?(count: number): void;
}

/** Streams `/flows` from `agent` (host:port) until `signal` aborts or the agent ends it. */
export function readFlows(agent: string, filter: FlowFilter, max: number, handlers: StreamHandlers, signal: AbortSignal): Promise<void> {
  const query = filterQuery(filter);
  const url = `http://${agent}/flows?max=${max}${query ? `&${query}` : ''}`;
  return new Promise((resolve, reject) => {
    const req = http.get(url, { signal }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(new Error(`${url}: ${res.statusCode} ${body.trim()}`)));
        return;
      }
      res.setEncoding('utf8');
      handlers.open?.();
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (\w+)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!event || data === undefined) continue;
          const value = JSON.parse(data) as Record<string, unknown>;
          if (event === 'flow') handlers.flow(value as unknown as Flow);
          else if (event === 'lost') handlers.lost(value.count as number, value.why as string);
          else if (event === 'tick' && (value.sampledOut as number) > 0) handlers.sampledOut?.(value.sampledOut as number);
        }
      });
      res.on('end', () => resolve());
      res.on('error', (error) => (signal.aborted ? resolve() : reject(error)));
    });
    req.on('error', (error) => (signal.aborted ? resolve() : reject(new Error(`cannot read the agent's flows at ${url}: ${error.message} (is the agent running with --metrics-port?)`))));
  });
}

/** One line: time, layer, client, Service, route and rule, backend, request, status, verdict. */
export function formatFlow(f: Flow): string {
  const client = f.source.pod ? `${f.source.pod.namespace}/${f.source.pod.name}` : (f.source.address ?? f.source.cgroup ?? '?');
  const backend = f.destination.backend ? `${f.destination.backend.pod ?? f.destination.backend.address ?? '?'}${f.destination.backend.service ? ` (${f.destination.backend.service})` : ''}` : '(none)';
  const verdict = f.reason ? `${f.verdict} (${f.reason})` : f.verdict;
  const parts = [f.time.slice(11, 23), f.layer, client, `-> ${f.destination.service ?? '?'}${f.destination.port ? `:${f.destination.port}` : ''}`];
  if (f.http) {
    parts.push(f.http.route ? `route ${f.http.route} rule ${f.http.rule}` : 'no route');
    parts.push(`-> ${backend}`, `${f.http.method} ${f.http.path}`, String(f.http.status), `${f.http.durationMs} ms`);
  } else {
    parts.push(`-> ${backend}`, f.protocol, f.event ?? '');
  }
  if (f.identity) parts.push(`${f.identity.source ?? '?'} -> ${f.identity.destination ?? '?'}`);
  parts.push(verdict);
  return parts.map((p) => p.replace(/[\u0000-\u001f\u007f]/g, '?')).join('  ');
}
