// `meshc demo`: the seed article's product-api canary, live, in one command.
import { resolve } from 'node:path';
import { runDemo } from '../demo/run.ts';
import type { CommandIO } from './io.ts';
import { InputError, integerOption, parseCommand } from './usage.ts';

const HELP = `Usage: meshc demo [--requests N] [--json]

Runs the seed article's product-api canary on this machine (as root), then removes everything:

  1. the seed's HTTPRoute simulated: a plain request and one with X-Canary-User: true (the header
     rule needs the HTTP-aware hop, which does not exist yet);
  2. live, the weight-split variant: product-api v1 (3 pods) and v2 (1 pod) as HTTP servers on
     pod addresses in a network namespace of its own, the agent's hooks on a cgroup of its own
     (pins under /sys/fs/bpf/meshc-demo-<random>), N requests to the ClusterIP on new
     connections, and the split they got; then again after changing the weights 90/10 -> 50/50,
     scaling v2 1 -> 2 and scaling v1 3 -> 1;
  3. cleanup: hooks, pins, namespace, cgroup, temp files (also on failure and on Ctrl-C).

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
