// The processes of the data-path setups, configured the same way in every setup: nginx as the
// backend pod (one worker, a fixed 1 KiB body), HAProxy as sidecar or node-level proxy (one
// thread each), and the Node.js service of the five-service chain.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab, Placement, Proc } from './lab.ts';

export const PAYLOAD_BYTES = 1024;
const CHAIN_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'chain-server.mjs');

/** nginx, one worker process (master_process off), answering every request with PAYLOAD_BYTES. */
export async function startNginx(lab: Lab, where: Placement, listen: string): Promise<Proc> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-nginx-'));
  lab.defer(`nginx dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const body = 'x'.repeat(PAYLOAD_BYTES);
  const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  default_type text/plain;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen ${listen} backlog=16384;
    location / { return 200 "${body}"; }
  }
}
`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const proc = lab.spawn(where, ['nginx', '-p', dir, '-e', `${dir}/error.log`, '-c', path.join(dir, 'nginx.conf')], 'nginx');
  await proc.listening(Number(listen.split(':')[1]));
  return proc;
}

export interface ProxyFrontend {
  listen: string;
  upstream: string;
}

/** One HAProxy process (one thread) with a frontend per entry; `mode` is 'tcp' or 'http'. */
export async function startHaproxy(lab: Lab, where: Placement, mode: 'tcp' | 'http', frontends: ProxyFrontend[], label: string): Promise<Proc> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshc-bench-haproxy-'));
  lab.defer(`haproxy dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const lines = [
    'global',
    '  nbthread 1',
    '  maxconn 8000',
    'defaults',
    `  mode ${mode}`,
    '  timeout connect 5s',
    '  timeout client 300s',
    '  timeout server 300s',
    ...(mode === 'http' ? ['  option http-keep-alive', '  http-reuse always'] : []),
  ];
  frontends.forEach((f, i) => {
    lines.push(`frontend f${i}`, `  bind ${f.listen}`, `  default_backend b${i}`);
    lines.push(`backend b${i}`, `  server s${i} ${f.upstream}`);
  });
  writeFileSync(path.join(dir, 'haproxy.cfg'), lines.join('\n') + '\n');
  const proc = lab.spawn(where, ['haproxy', '-db', '-f', path.join(dir, 'haproxy.cfg')], label);
  for (const f of frontends) await proc.listening(Number(f.listen.split(':')[1]));
  return proc;
}

/** A chain service: listens on `listen`, calls `next` (if any) for every request, answers 1 KiB. */
export async function startChainServer(lab: Lab, where: Placement, listen: string, next: string | undefined, label: string): Promise<Proc> {
  const proc = lab.spawn(where, [process.execPath, CHAIN_SERVER, listen, next ?? '-', String(PAYLOAD_BYTES)], label);
  await proc.waitLine((l) => l === 'ready');
  return proc;
}
