// The agent's flow endpoints, on its metrics address: /flows (Server-Sent Events: `flow`, `lost`
// and `tick` events; query: namespace, pod, service, verdict, layer, max flows a second, recent)
// and /observe/ (the service map page, built into dist/observe by src/observe/build.ts).
import { existsSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFilter } from './filter.ts';
import type { FlowHub } from './hub.ts';

export const PAGE_DIR = fileURLToPath(new URL('../../dist/observe/', import.meta.url));

/** Bytes a stream may have waiting before its flows are left out (and said lost to it). */
const MAX_BUFFERED = 1 << 20;

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.txt': 'text/plain' };

/** Handles /flows and /observe/...; false for any other path. */
export function observeHandler(hub: FlowHub, pageDir = PAGE_DIR): (path: string, req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (path, req, res) => {
    if (path === '/flows') {
      streamFlows(hub, req, res);
      return true;
    }
    if (path === '/observe') {
      res.writeHead(301, { Location: '/observe/' }).end();
      return true;
    }
    if (!path.startsWith('/observe/')) return false;
    const name = path.slice('/observe/'.length) || 'index.html';
    const file = join(pageDir, name);
    if (!/^[\w.-]+$/.test(name) || !existsSync(file)) {
      const why = existsSync(join(pageDir, 'index.html')) ? `no ${name}` : `the page is not built (npm run build:observe writes ${pageDir})`;
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${why}\n`);
      return true;
    }
    const body = readFileSync(file);
    res.writeHead(200, { 'Content-Type': TYPES[extname(name)] ?? 'application/octet-stream', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

function streamFlows(hub: FlowHub, req: http.IncomingMessage, res: http.ServerResponse): void {
  const query = Object.fromEntries(new URL(req.url ?? '/', 'http://agent').searchParams);
  let filter;
  try {
    filter = parseFilter(query, '/flows');
  } catch (error) {
    res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`${(error as Error).message}\n`);
    return;
  }
  const max = query.max === undefined ? 500 : Number(query.max);
  if (!(Number.isInteger(max) && max > 0)) {
    res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`/flows: max "${query.max}" is not a positive whole number of flows a second\n`);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
  res.write(': meshc flows\n\n');
  let dropped = 0;
  const send = (event: string, data: unknown) => {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  if (query.recent === '1') for (const f of hub.recent(filter)) send('flow', f);
  const unsubscribe = hub.subscribe(filter, {
    flow(flow) {
      if (res.writableLength > MAX_BUFFERED) {
        dropped++;
        return;
      }
      send('flow', flow);
    },
    lost(count, why) {
      send('lost', { count, why });
    },
    tick(tick) {
      if (dropped > 0) {
        send('lost', { count: dropped, why: 'this stream reads too slowly: flows left out of it (the summaries count them)' });
        dropped = 0;
      }
      send('tick', tick);
    },
  }, max);
  const end = () => unsubscribe();
  req.on('close', end);
  res.on('error', end);
}
