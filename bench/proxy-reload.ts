// `npx tsx bench/proxy-reload.ts [--route-changes N] [--endpoint-changes N] [--weight-changes N]
// [--clients N]`: the node proxy's supervisor under load at the issue's full counts (100 route
// changes, each a seamless reload, 1,000 endpoint changes and 100 backendRef weight changes
// through the runtime API) in a network namespace of its own
// (test/proxy/supervisor-run.ts). Prints the summary and writes bench/results/proxy-reload.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RUNNER = path.join(ROOT, 'test', 'proxy', 'supervisor-run.ts');
const NETNS_SETUP = 'ip link set lo up && ip addr add 10.0.0.1/32 dev lo && ip route add local 10.244.0.0/16 dev lo && exec "$@"';

const { values } = parseArgs({
  options: {
    'route-changes': { type: 'string', default: '100' },
    'endpoint-changes': { type: 'string', default: '1000' },
    'weight-changes': { type: 'string', default: '100' },
    clients: { type: 'string', default: '4' },
  },
});

const run = spawnSync('unshare', ['-n', 'sh', '-c', NETNS_SETUP, 'sh', process.execPath, '--import', 'tsx', RUNNER], {
  encoding: 'utf8', timeout: 1_800_000, maxBuffer: 16 << 20, stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, MESHC_PROXY_ROUTE_CHANGES: values['route-changes'], MESHC_PROXY_ENDPOINT_CHANGES: values['endpoint-changes'], MESHC_PROXY_WEIGHT_CHANGES: values['weight-changes'], MESHC_PROXY_CLIENTS: values.clients },
});
if (run.status !== 0) {
  console.error(`bench/proxy-reload: the runner failed (status ${run.status})`);
  process.exit(1);
}
const summary = JSON.parse(run.stdout);
const out = path.join(ROOT, 'bench', 'results', 'proxy-reload.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ measuredAt: new Date().toISOString(), ...summary }, null, 2)}\n`);
console.log(`${summary.routeChanges} route changes (reloads), ${summary.endpointChanges} endpoint and ${summary.weightChanges} weight changes (runtime API): ${summary.requests} requests, ${summary.failed} failed`);
console.log(`reload to serving: p50 ${summary.reloadMs.p50} ms, p99 ${summary.reloadMs.p99} ms; runtime change: p50 ${summary.runtimeMs.p50} ms, p99 ${summary.runtimeMs.p99} ms`);
console.log(`actions ${JSON.stringify(summary.byAction)}; master killed and restarted: ${summary.restartedAfterKill}; only current endpoints answer: ${summary.finalPoolsRespected}; final weights respected: ${summary.finalWeightsRespected}`);
process.exit(summary.failed === 0 && summary.finalPoolsRespected && summary.finalWeightsRespected && summary.restartedAfterKill ? 0 : 1);
