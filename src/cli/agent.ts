// `meshc agent`: route a cgroup's connections on this node, from manifests (or the API server).
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, CGROUP2_ROOT, DEFAULT_PIN, detach, resolveCgroup, type SyncResult } from '../agent/agent.ts';
import { observeRefusals, observeSync } from '../agent/observe.ts';
import { AgentMetrics } from '../metrics/metrics.ts';
import { MetricsServer, type Readiness } from '../metrics/server.ts';
import type { KubeSource } from '../kube/source.ts';
import { ManifestSource } from '../agent/manifest-source.ts';
import { NodeProxy } from '../agent/proxy.ts';
import { Observer } from '../observe/observer.ts';
import { observeHandler } from '../observe/http.ts';
import { formatDiagnostic } from '../model/diagnostics.ts';
import { AUTHENTICATION_REPORT } from '../model/netpol-read.ts';
import { checkTrustDomain } from '../identity/spiffe.ts';
import { untilStopped, type CommandIO } from './io.ts';
import { InputError, UsageError, integerOption, parseCommand } from './usage.ts';

const HELP = `Usage: meshc agent --manifests DIR --cgroup PATH [--pin DIR] [--watch] [options]
       meshc agent [--kubeconfig FILE] --cgroup PATH [--pin DIR] [options]
       meshc agent --detach [--pin DIR]

Loads meshc's BPF programs, attaches the connect/sendmsg/recvmsg/getpeername hooks (IPv4 and
IPv6) and sock_release to one cgroup v2 directory, and fills the routing maps from Services,
EndpointSlices (or Pods with status.podIP) and HTTPRoutes: from manifest files (--manifests), or
from the API server (--kubeconfig, or the in-cluster config when neither is given), which it
lists and watches until SIGTERM. No pods are made up here.

Programs, links and maps are pinned under --pin, so routing goes on when the agent stops
(SIGTERM leaves everything in place) and a restarted agent adopts the pinned state: it removes
stale entries only after its first full sync. --detach removes everything.

Options:
  --manifests DIR     manifests to route by (repeatable)
  --cgroup PATH       cgroup v2 directory whose processes are routed: absolute, or relative to
                      the cgroup v2 mount (${CGROUP2_ROOT} here). The root cgroup is refused
                      unless given as "/".
  --pin DIR           bpffs directory for pinned links and maps (default ${DEFAULT_PIN})
  --watch             apply changes to the manifests as they happen (until SIGTERM/SIGINT)
  --kubeconfig FILE   watch this cluster's API server (default without --manifests: in-cluster)
  --metrics-port P    serve /metrics (Prometheus), /healthz and /readyz on this port
  --metrics-address A the IP address the metrics server listens on (default 127.0.0.1;
                      0.0.0.0 or :: for every address of the host). While the agent watches,
                      it also serves /flows (every flow, L4 and L7, as Server-Sent Events) and
                      /observe/ (the live service map); docs/observe.md
  --flows             read the kernel's flow events always (per-connection metrics), not only
                      while /flows has a reader (events cost connect() time: bench/observe.ts)
  --node NAME         this node's name, for internalTrafficPolicy Local and zones (default: hostname)
  --objects DIR       where meshc.bpf.o is (default build/; built with meshc compile if missing)
  --audit-seconds N   every N seconds compare the maps with what the agent wrote and put back
                      rows changed, deleted or added from outside (default 10; 0: never)
  --force-attach      attach even when another meshc's hooks already route the cgroup (or one
                      above it); without it that is refused, since two sets of hooks fight
  --proxy-bin PATH    the node proxy for Service ports whose HTTPRoutes need the HTTP request
                      (matches on path, headers, method or query; filters; timeouts): HAProxy,
                      run by the agent while it watches (default: haproxy from PATH). When it
                      cannot run, those ports are decided in the kernel on their catch-all rules
                      and the agent says so; every other Service is routed as usual
  --node-ip IP        the node address the proxy listens on and connect() is steered to (default:
                      the Node object's InternalIP, else the host's first non-loopback address)
  --ca-url URL        workload identities (opt-in, docs/identity.md): for every ServiceAccount
                      with pods on this node, make a key here, have \`meshc ca\` at URL sign an
                      SVID for it (authenticated by this agent's ServiceAccount token), hold it in
                      memory, renew it at half-life, drop it when the pods are gone. Needs the
                      API server source, --trust-domain and --trust-bundle. Off by default
  --trust-domain TD   the SPIFFE trust domain of --ca-url's CA
  --trust-bundle FILE the CA's roots (PEM), read anew for every request: verifies the CA's TLS
                      certificate and every SVID
  --tunnel            with --ca-url and --node-ip: run the node tunnel (docs/tunnel.md): pods
                      selected by a CiliumNetworkPolicy ingress rule with authentication.mode:
                      required are reached only through the nodes' tunnels (mutual TLS 1.3 with
                      the SVIDs held here); supervised, fail closed while it is down. Off by default
  --detach            detach every hook and remove the pinned state under --pin, then exit
  -h, --help          this help
`;

export const command = { summary: 'route a cgroup on this node from manifests or the API server', run };

async function ensureObject(dir: string, log: (line: string) => void): Promise<void> {
  if (existsSync(join(dir, 'meshc.bpf.o'))) return;
  log(`agent: ${join(dir, 'meshc.bpf.o')} is missing; compiling the built-in policy first`);
  const { compilePolicy } = await import('../build/compile.ts');
  await compilePolicy({ outDir: dir, progress: (line) => log(`compile: ${line}`) });
}

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand('agent', args, {
    manifests: { type: 'string', multiple: true },
    cgroup: { type: 'string' },
    pin: { type: 'string' },
    watch: { type: 'boolean' },
    node: { type: 'string' },
    objects: { type: 'string' },
    detach: { type: 'boolean' },
    'force-attach': { type: 'boolean' },
    flows: { type: 'boolean' },
    'audit-seconds': { type: 'string' },
    kubeconfig: { type: 'string' },
    'metrics-port': { type: 'string' },
    'metrics-address': { type: 'string' },
    'proxy-bin': { type: 'string' },
    'node-ip': { type: 'string' },
    'ca-url': { type: 'string' },
    'trust-domain': { type: 'string' },
    'trust-bundle': { type: 'string' },
    tunnel: { type: 'boolean' },
  }, false);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const pin = resolve(values.pin ?? DEFAULT_PIN);
  if (process.getuid?.() !== 0) throw new InputError('meshc agent: needs root with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON to load and attach BPF programs (docs/agent.md, Privileges)');
  if (values.detach) {
    detach(pin, log);
    return 0;
  }
  if (values.manifests?.length && values.kubeconfig) throw new UsageError('meshc agent: give --manifests or --kubeconfig, not both');
  if (!values.cgroup) throw new UsageError('meshc agent: --cgroup PATH is required (the cgroup v2 directory to route)');
  const metricsPort = values['metrics-port'] === undefined ? undefined : integerOption('agent', 'metrics-port', values['metrics-port'], 0, 0);
  if (metricsPort !== undefined && metricsPort > 65535) throw new UsageError(`meshc agent: --metrics-port must be a port (0 to 65535), got "${values['metrics-port']}"`);
  const metricsAddress = values['metrics-address'];
  if (metricsAddress !== undefined && isIP(metricsAddress) === 0) {
    throw new UsageError(`meshc agent: --metrics-address must be an IP address (127.0.0.1, a node address, 0.0.0.0), got "${metricsAddress}"`);
  }
  if (metricsAddress !== undefined && metricsPort === undefined) throw new UsageError('meshc agent: --metrics-address needs --metrics-port');
  const auditSeconds = integerOption('agent', 'audit-seconds', values['audit-seconds'], 10, 0);
  const nodeIp = values['node-ip'];
  if (nodeIp !== undefined && (isIP(nodeIp) === 0 || nodeIp.startsWith('127.') || nodeIp === '::1')) {
    throw new UsageError(`meshc agent: --node-ip must be a node address that pods can reach (not loopback), got "${nodeIp}"`);
  }
  const manifests = values.manifests ?? [];
  const identityOptions = identityFlags(values, manifests.length > 0);
  if (values.tunnel && !identityOptions) throw new UsageError('meshc agent: --tunnel needs workload identities (--ca-url, --trust-domain, --trust-bundle): the tunnel presents their SVIDs');
  if (values.tunnel && !nodeIp) throw new UsageError('meshc agent: --tunnel needs --node-ip (the node address the tunnel listens on, for pods and for peer nodes)');
  const missing = manifests.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new InputError(`meshc agent: no such file or directory: ${missing.join(', ')}`);
  if (values.kubeconfig && !existsSync(values.kubeconfig)) throw new InputError(`meshc agent: no such kubeconfig: ${values.kubeconfig}`);
  let cgroup: string;
  try {
    cgroup = resolveCgroup(values.cgroup);
  } catch (error) {
    throw new InputError(`meshc agent: ${(error as Error).message}`);
  }
  const objectDir = resolve(values.objects ?? 'build');
  await ensureObject(objectDir, log);
  const node = values.node ?? hostname();
  const metrics = metricsPort === undefined ? undefined : new AgentMetrics();
  const kube = manifests.length === 0 ? await startKubeSource(values.kubeconfig, node, metrics, log) : undefined;
  const files = kube ? undefined : new ManifestSource(manifests);
  const source = kube ?? files!;
  // The node proxy needs a running agent: a one-shot run leaves L7 ports in the kernel.
  const observer = metrics && (kube || values.watch) ? new Observer({ registry: metrics.registry, pin, cgroupRoot: CGROUP2_ROOT, always: values.flows, log }) : undefined;
  const proxy = kube || values.watch ? new NodeProxy({ bin: values['proxy-bin'], nodeIp, node, cgroup, log, ...(observer ? { accessLog: (dir: string) => observer.openAccessLog(dir) } : {}) }) : undefined;
  if (proxy) observer?.watchDroppedLogs(() => proxy.statsSocket);
  let tunnel: import('../agent/tunnel.ts').NodeTunnel | undefined;
  const agent = new Agent({ source, cgroup, pin, node, objectDir, log, forceAttach: values['force-attach'], proxy, onModel: (model) => {
    // The tunnel's plan never fails the routing sync; it is logged and tried again on the next.
    try {
      tunnel?.update(model);
    } catch (error) {
      log(`agent: tunnel: could not apply the plan: ${(error as Error).message}; retried on the next sync`);
    }
  } });
  const report = (result: SyncResult) => {
    // With --tunnel, authentication.mode: required is enforced (the tunnel logs each pod it protects).
    for (const d of result.diagnostics) if (!(values.tunnel && d.message === AUTHENTICATION_REPORT)) log(formatDiagnostic(d));
    if (metrics) observeSync(metrics, agent, result);
    observer?.update(result.model, result.tables);
  };
  const server = metrics ? new MetricsServer({ registry: metrics.registry, readiness: () => readiness(agent, kube), port: metricsPort, host: metricsAddress, ...(observer ? { handle: observeHandler(observer.hub) } : {}) }) : undefined;
  try {
    await server?.start();
  } catch (error) {
    await kube?.stop();
    throw new InputError(`meshc agent: ${(error as Error).message}`);
  }
  if (server) log(`agent: metrics on ${server.address} (/metrics, /healthz, /readyz${observer ? ', /flows, /observe/' : ''})`);
  try {
    report(await agent.start());
  } catch (error) {
    agent.close();
    await proxy?.stop();
    observer?.stop();
    await server?.stop();
    await kube?.stop();
    throw new InputError(`meshc agent: ${(error as Error).message}`);
  }
  if (!kube && !values.watch) {
    agent.close();
    observer?.stop();
    await server?.stop();
    return 0;
  }
  const stops: (() => void)[] = [];
  if (kube) {
    kube.onBatch(async (batch) => {
      const started = kube.now();
      try {
        report(await agent.sync());
        metrics?.observeProgramming(batch.changes, kube.now());
        metrics?.recordApply(undefined, kube.now() - started);
      } catch (error) {
        metrics?.recordApply(undefined, kube.now() - started, 'error');
        log(`agent: sync failed, the maps keep their last good state: ${(error as Error).message}`);
        throw error; // the source delivers the changes again after a backoff
      }
    });
    stops.push(() => void kube.stop());
  } else {
    stops.push(files!.watch(() => {
      agent.sync().then(report, (error) => log(`agent: sync failed, the maps keep their last good state: ${(error as Error).message}`));
    }));
  }
  // The identities this node holds (an IdentitySource: what the tunnel reads).
  // Loaded only when opted in: X.509 and the identity manager cost an agent without --ca-url nothing.
  const identities = identityOptions ? await (await import('../agent/identity.ts')).startNodeIdentities({ ...identityOptions, kubeconfig: values.kubeconfig, node, pin, log }) : undefined;
  if (identities) stops.push(identities.stop);
  if (identities && values.tunnel) {
    const { NodeTunnel } = await import('../agent/tunnel.ts');
    tunnel = new NodeTunnel({ node, trustDomain: identityOptions!.trustDomain, nodeAddr: nodeIp!, cgroup, pin, stateDir: join('/run/meshc', `tunnel${pin.replaceAll('/', '_')}`), identities: identities.store, log, ...(observer ? { onEvent: (event: import('../tunnel/tunnel.ts').TunnelEvent) => observer.tunnel(event) } : {}) });
    tunnel.start(); // after agent.start(): its connect4 runs after meshc's
    await agent.sync().then(report);
  }
  // Containers of skipped pods come and go without any object changing; counters move on their own.
  const timer = setInterval(() => {
    agent.refreshSkipped();
    proxy?.refreshClients();
    if (metrics) observeRefusals(metrics, agent);
  }, 5000);
  stops.push(() => clearInterval(timer));
  // The agent owns its links: what someone detaches or unpins is put back within a quarter of a second.
  stops.push(agent.watchLinks(250));
  // ... and what someone writes into its maps is undone at the next audit.
  if (auditSeconds > 0) stops.push(agent.watchMaps(auditSeconds * 1000));
  log(`agent: ${kube ? 'watching the API server' : 'watching for changes'} (SIGTERM or SIGINT stops; pinned state stays)`);
  const signal = await untilStopped(io);
  log(`agent: ${signal === 'abort' ? 'stopped' : signal}: stopping; links and maps stay pinned in ${pin}, routing goes on`);
  if (proxy) {
    // Put the L7 ports back in the kernel (catch-all rules) before the proxy stops with the agent.
    proxy.disable();
    await agent.sync().catch((error) => log(`agent: could not take the L7 ports back from the node proxy: ${(error as Error).message}`));
    await proxy.stop();
  }
  for (const stop of stops) stop();
  await tunnel?.stop();
  observer?.stop();
  agent.close();
  await server?.stop();
  return 0;
}

interface IdentityFlags {
  caUrl: string;
  trustDomain: string;
  trustBundle: string;
}

/** --ca-url, --trust-domain and --trust-bundle: all three or none. */
function identityFlags(values: { 'ca-url'?: string; 'trust-domain'?: string; 'trust-bundle'?: string }, manifests: boolean): IdentityFlags | undefined {
  const { 'ca-url': caUrl, 'trust-domain': trustDomain, 'trust-bundle': trustBundle } = values;
  if (caUrl === undefined && trustDomain === undefined && trustBundle === undefined) return undefined;
  if (!caUrl || !trustDomain || !trustBundle) throw new UsageError('meshc agent: workload identities need --ca-url, --trust-domain and --trust-bundle together');
  if (manifests) throw new UsageError('meshc agent: --ca-url needs the API server source (the CA checks pods on this node), not --manifests');
  let url: URL;
  try {
    url = new URL(caUrl);
  } catch {
    throw new UsageError(`meshc agent: --ca-url must be an https:// URL, got "${caUrl}"`);
  }
  if (url.protocol !== 'https:') throw new UsageError(`meshc agent: --ca-url must be an https:// URL, got "${caUrl}"`);
  try {
    checkTrustDomain(trustDomain);
  } catch (error) {
    throw new UsageError(`meshc agent: --trust-domain: ${(error as Error).message}`);
  }
  if (!existsSync(trustBundle)) throw new InputError(`meshc agent: --trust-bundle ${trustBundle}: no such file`);
  return { caUrl, trustDomain, trustBundle };
}

async function startKubeSource(kubeconfig: string | undefined, nodeName: string, metrics: AgentMetrics | undefined, log: (line: string) => void): Promise<KubeSource> {
  const { KubeSource } = await import('../kube/source.ts');
  let source: KubeSource;
  try {
    source = new KubeSource({ kubeconfig, nodeName, metrics, log });
  } catch (error) {
    throw new InputError(`meshc agent: ${kubeconfig ? `kubeconfig ${kubeconfig}` : 'in-cluster config'}: ${(error as Error).message}`);
  }
  metrics?.bindSource(source);
  await source.start();
  log(`agent: listing and watching ${kubeconfig ? `the cluster of ${kubeconfig}` : 'the cluster (in-cluster config)'}; nothing is removed from the maps before the first full list`);
  return source;
}

/** /readyz: the source has listed everything and the agent has written it once. */
function readiness(agent: Agent, kube: KubeSource | undefined): Readiness {
  if (kube && !kube.synced()) return { ready: false, reason: 'waiting for the first full list from the API server' };
  if (agent.notRouting) return { ready: false, reason: agent.notRouting };
  if (!agent.ready) return { ready: false, reason: 'waiting for the first full sync of the maps' };
  return { ready: true };
}
