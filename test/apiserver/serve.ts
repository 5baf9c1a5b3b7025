// TEST DOUBLE: runs the API server stand-in as its own process (benchmarks measure the agent
// without the stand-in's memory). Prints one JSON line {url, port, resourceVersion} when ready;
// SIGTERM stops it. A line `stats` on stdin is answered with one JSON line on stdout: the requests
// served so far per verb and resource (as kube-apiserver's apiserver_request_total names them) and
// the watch events sent per resource (apiserver_watch_events_total), for the control-plane bench.
//   npx tsx test/apiserver/serve.ts [--port N] [--services N --endpoints N [--nodes N]] [--kubeconfig FILE]
import { createInterface } from 'node:readline';
import { ApiServerStandin, type RequestRecord } from './standin.ts';
import { seedScale } from './scale.ts';

function parse(argv: string[]): Record<string, string> {
  const known = new Set(['--port', '--services', '--endpoints', '--kubeconfig', '--gateway-versions', '--nodes']);
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    if (!known.has(flag)) throw new Error(`unknown option ${flag} (known: ${[...known].join(', ')})`);
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    out[flag.slice(2)] = value;
  }
  return out;
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const server = new ApiServerStandin({
    port: args['port'] ? Number(args['port']) : 0,
    gatewayVersions: args['gateway-versions'] !== undefined ? args['gateway-versions'].split(',').filter(Boolean) : undefined,
  });
  if (args['services']) seedScale(server, { services: Number(args['services']), endpoints: Number(args['endpoints'] ?? args['services']), ...(args['nodes'] ? { nodes: Number(args['nodes']) } : {}) });
  server.compact();
  await server.start();
  if (args['kubeconfig']) server.writeKubeconfig(args['kubeconfig']);
  process.stdout.write(JSON.stringify({ url: server.url, port: server.port, resourceVersion: server.resourceVersion }) + '\n');
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() !== 'stats') return;
    const requests: Record<string, number> = {};
    for (const r of server.requests) {
      const key = `${verbOf(r)} ${resourceOf(r.path)}`;
      requests[key] = (requests[key] ?? 0) + 1;
    }
    process.stdout.write(JSON.stringify({ requests, watchEvents: Object.fromEntries(server.watchEventsSent) }) + '\n');
  });
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** kube-apiserver's verb for a request: LIST and WATCH for collection reads, as its metrics say. */
function verbOf(r: RequestRecord): string {
  if (r.method !== 'GET') return r.method;
  const named = /\/namespaces\/[^/]+\/[^/]+\/[^/]+$/.test(r.path) || /^\/api\/v1\/[^/]+\/[^/]+$/.test(r.path) || /^\/apis\/[^/]+\/[^/]+\/[^/]+\/[^/]+$/.test(r.path);
  return r.watch ? 'WATCH' : named ? 'GET' : 'LIST';
}

/** `resource.group` of an API path (`discovery` for the rest). */
function resourceOf(path: string): string {
  const s = path.split('/').filter(Boolean);
  let group = '';
  let rest: string[];
  if (s[0] === 'api' && s.length >= 3) rest = s.slice(2);
  else if (s[0] === 'apis' && s.length >= 4) [group, rest] = [s[1]!, s.slice(3)];
  else return 'discovery';
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  return group ? `${rest[0]}.${group}` : rest[0]!;
}

main().catch((error) => {
  process.stderr.write(`standin: ${(error as Error).message}\n`);
  process.exit(2);
});
