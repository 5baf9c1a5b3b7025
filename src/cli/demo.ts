// `meshc demo`: the seed article's product-api canary, live, in one command.
import { resolve } from 'node:path';
import { runDemo } from '../demo/run.ts';
import type { CommandIO } from './io.ts';
import { InputError, integerOption, parseCommand } from './usage.ts';

const HELP = `Usage: meshc demo [--requests N] [--json]

Runs the seed article's product-api canary on this machine (as root), then removes everything:

  1. the seed's HTTPRoute simulated: a plain request and one with X-Canary-User: true;
  2. live: product-api v1 (3 pods) and v2 (1 pod) as HTTP servers on pod addresses in a network
     namespace of its own, the agent's hooks on a cgroup of its own (pins under
     /sys/fs/bpf/meshc-demo-<random>) and its node proxy (HAProxy) in that namespace. The seed's
     route: N plain requests (v1) and N with X-Canary-User: true (v2) to the ClusterIP, then the
     catch-all rule's weights changed to 90/10 (a runtime change of the proxy) and both measured
     again; then the weight-split variant alone, decided in the kernel: 90/10 -> 50/50, v2
     scaled 1 -> 2 and v1 scaled 3 -> 1, each measured;
  3. cleanup: proxy, hooks, pins, namespace, cgroup, temp files (also on failure and on Ctrl-C).

Options:
  --requests N   requests per measurement (default 200)
  --json         progress on stderr, one JSON summary on stdout
  --objects DIR  where meshc.bpf.o is (default build/; compiled first when missing)
  -h, --help     this help
`;

export const command = { summary: 'run the product-api canary live (root)', run };

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand('demo', args, {
    requests: { type: 'string' },
    json: { type: 'boolean' },
    objects: { type: 'string' },
  }, false);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const requests = integerOption('demo', 'requests', values.requests, 200, 1);
  if (process.getuid?.() !== 0) {
    throw new InputError('meshc demo: needs root: it creates a network namespace and a cgroup, and loads and attaches BPF programs (try: sudo meshc demo)');
  }
  const out = values.json ? io.stderr : io.stdout;
  const summary = await runDemo({ requests, objectDir: resolve(values.objects ?? 'build'), log: (line) => out.write(`${line}\n`) });
  if (values.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  const failed = summary.phases.reduce((n, p) => n + p.failed, 0);
  return summary.error || summary.leftovers.length > 0 || failed > 0 ? 1 : 0;
}
