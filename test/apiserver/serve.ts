// TEST DOUBLE: runs the API server stand-in as its own process (benchmarks measure the agent
// without the stand-in's memory). Prints one JSON line {url, port, resourceVersion} when ready;
// SIGTERM stops it.
//   npx tsx test/apiserver/serve.ts [--port N] [--services N --endpoints N] [--kubeconfig FILE]
import { ApiServerStandin } from './standin.ts';
import { seedScale } from './scale.ts';

function parse(argv: string[]): Record<string, string> {
  const known = new Set(['--port', '--services', '--endpoints', '--kubeconfig', '--gateway-versions']);
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
  if (args['services']) seedScale(server, { services: Number(args['services']), endpoints: Number(args['endpoints'] ?? args['services']) });
  server.compact();
  await server.start();
  if (args['kubeconfig']) server.writeKubeconfig(args['kubeconfig']);
  process.stdout.write(JSON.stringify({ url: server.url, port: server.port, resourceVersion: server.resourceVersion }) + '\n');
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  process.stderr.write(`standin: ${(error as Error).message}\n`);
  process.exit(2);
});
