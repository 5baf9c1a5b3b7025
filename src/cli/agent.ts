// `meshc agent`: route a cgroup's connections on this node, from manifests (or the API server).
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, DEFAULT_PIN, detach, resolveCgroup } from '../agent/agent.ts';
import { ManifestSource, watchPaths } from '../agent/manifest-source.ts';
import { formatDiagnostic } from '../model/diagnostics.ts';
import { InputError, UsageError, parseCommand } from './usage.ts';

const HELP = `Usage: meshc agent --manifests DIR --cgroup PATH [--pin DIR] [--watch] [options]
       meshc agent --detach [--pin DIR]

Loads meshc's BPF programs, attaches the connect/sendmsg/recvmsg/getpeername hooks (IPv4 and
IPv6) and sockops to one cgroup v2 directory, and fills the routing maps from the manifests:
Services, EndpointSlices (or Pods with status.podIP) and HTTPRoutes. No pods are made up here.

Programs, links and maps are pinned under --pin, so routing goes on when the agent stops
(SIGTERM leaves everything in place) and a restarted agent adopts the pinned state: it removes
stale entries only after its first full sync. --detach removes everything.

Options:
  --manifests DIR     manifests to route by (repeatable)
  --cgroup PATH       cgroup v2 directory whose processes are routed: absolute, or relative to
                      /sys/fs/cgroup/unified. The root cgroup is refused unless given as "/".
  --pin DIR           bpffs directory for pinned links and maps (default ${DEFAULT_PIN})
  --watch             apply changes to the manifests as they happen (until SIGTERM/SIGINT)
  --node NAME         this node's name, for internalTrafficPolicy Local and zones (default: hostname)
  --objects DIR       where meshc.bpf.o is (default build/; built with meshc compile if missing)
  --detach            detach every hook and remove the pinned state under --pin, then exit
  -h, --help          this help
`;

export const command = { summary: 'route a cgroup on this node from manifests', run };

async function ensureObject(dir: string, log: (line: string) => void): Promise<void> {
  if (existsSync(join(dir, 'meshc.bpf.o'))) return;
  log(`agent: ${join(dir, 'meshc.bpf.o')} is missing; compiling the built-in policy first`);
  const { compilePolicy } = await import('../node/compile.ts');
  await compilePolicy({ outDir: dir, progress: (line) => log(`compile: ${line}`) });
}

async function run(args: string[]): Promise<number> {
  const { values } = parseCommand('agent', args, {
    manifests: { type: 'string', multiple: true },
    cgroup: { type: 'string' },
    pin: { type: 'string' },
    watch: { type: 'boolean' },
    node: { type: 'string' },
    objects: { type: 'string' },
    detach: { type: 'boolean' },
  }, false);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const pin = resolve(values.pin ?? DEFAULT_PIN);
  if (process.getuid?.() !== 0) throw new InputError('meshc agent: needs root (CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN) to load and attach BPF programs');
  if (values.detach) {
    detach(pin, log);
    return 0;
  }
  if (!values.manifests?.length) throw new UsageError('meshc agent: --manifests DIR is required');
  if (!values.cgroup) throw new UsageError('meshc agent: --cgroup PATH is required (the cgroup v2 directory to route)');
  const missing = values.manifests.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new InputError(`meshc agent: no such file or directory: ${missing.join(', ')}`);
  let cgroup: string;
  try {
    cgroup = resolveCgroup(values.cgroup);
  } catch (error) {
    throw new InputError(`meshc agent: ${(error as Error).message}`);
  }
  const objectDir = resolve(values.objects ?? 'build');
  await ensureObject(objectDir, log);
  const source = new ManifestSource(values.manifests);
  const agent = new Agent({ source, cgroup, pin, node: values.node ?? hostname(), objectDir, log });
  const reportDiagnostics = (diagnostics: Parameters<typeof formatDiagnostic>[0][]) => {
    for (const d of diagnostics) log(formatDiagnostic(d));
  };
  reportDiagnostics((await agent.start()).diagnostics);
  if (!values.watch) {
    agent.close();
    return 0;
  }
  const stop = watchPaths(values.manifests, () => {
    agent.sync().then((r) => reportDiagnostics(r.diagnostics), (error) => log(`agent: sync failed, the maps keep their last good state: ${(error as Error).message}`));
  });
  // Containers of skipped pods come and go without any object changing.
  const rescan = setInterval(() => agent.refreshSkipped(), 5000);
  log('agent: watching for changes (SIGTERM or SIGINT stops; pinned state stays)');
  await new Promise<void>((done) => {
    const shutdown = (signal: string) => {
      log(`agent: ${signal}: stopping; links and maps stay pinned in ${pin}, routing goes on`);
      stop();
      clearInterval(rescan);
      agent.close();
      done();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  return 0;
}
