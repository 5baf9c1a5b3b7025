// Dispatches `meshc <command>`. Exit status: 0 success, 1 bad input or failure, 2 bad usage.
import { processIO, type CommandIO } from './io.ts';
import { InputError, UsageError } from './usage.ts';

interface Command {
  summary: string;
  run(args: string[], io: CommandIO): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  simulate: async () => (await import('./simulate.ts')).command,
  compile: async () => (await import('./compile.ts')).command,
  agent: async () => (await import('./agent.ts')).command,
  playground: async () => (await import('./playground.ts')).command,
  test: async () => (await import('./test.ts')).command,
  inspect: async () => (await import('./inspect.ts')).command,
  monitor: async () => (await import('./monitor.ts')).command,
  demo: async () => (await import('./demo.ts')).command,
  ca: async () => (await import('./ca.ts')).command,
};

function overview(): string {
  return `meshc: sidecar-less service routing for Kubernetes

Routing policies are written once in AssemblyScript and run as WebAssembly (simulator,
playground) and as BPF programs on cgroup connect() hooks (node agent).

Usage: meshc <command> [options]    (meshc <command> --help for a command's options)

Commands:
  simulate   where connections to a Service go, computed offline from manifests
  compile    the policy as BPF C, a BPF object (clang-19) and policy.wasm
  agent      route a cgroup's connections on this node (BPF), from manifests
  playground serve the browser playground: edit manifests, simulate, unit-test policies
  test       run policy unit tests (docs/policy-tests.md) against manifests
  inspect    decode the agent's pinned maps: services, weighted groups, backends, names
  monitor    stream the agent's connection events (translated, refused, established, closed)
  demo       run the product-api canary live on this machine (root): netns, cgroup, agent
  ca         the workload identity CA: init a root, sign node agents' CSRs, verify an SVID

Exit status: 0 on success, 1 on bad input or failure, 2 on bad usage.
`;
}

/** Runs `meshc ARGV...` and returns its exit status; output goes to `io` (the process's by default). */
export async function main(argv: string[], io: CommandIO = processIO()): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(overview());
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.stderr.write(`meshc: unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  try {
    return await (await load()).run(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${error.message}\n(see meshc ${name} --help)\n`);
      return 2;
    }
    if (error instanceof InputError) {
      io.stderr.write(`${error.message}\n`);
      return 1;
    }
    io.stderr.write(`meshc ${name}: ${(error as Error).stack ?? error}\n`);
    return 1;
  }
}
