// `meshc simulate`: where connections to a Service go, from manifests, without a cluster.
import { existsSync } from 'node:fs';
import { loadManifests } from '../model/load-files.ts';
import { diagnosticJson, formatDiagnostic, formatIgnored } from '../model/diagnostics.ts';
import { loadPolicyWasm } from '../wasm/load.ts';
import { servedLines, simulate, SimulateError, type SimulateInput, type SimulateResult } from '../sim/simulate.ts';
import { splitPath } from '../policy-tests/format.ts';
import { parseServiceAddress, type ServiceAddress } from '../sim/service-address.ts';
import { formatTable, shareBar } from '../text/table.ts';
import type { CommandIO } from './io.ts';
import { networkLines } from '../netpol/simulate.ts';
import { InputError, UsageError, integerOption, parseCommand } from './usage.ts';

const HELP = `Usage: meshc simulate PATH... --to NAME[.NAMESPACE]:PORT [options]

Loads the manifests in PATH (files or directories of YAML/JSON: Services, EndpointSlices, Pods,
Deployments, StatefulSets, HTTPRoutes...), compiles them into meshc's routing tables, and runs
the policy (the same WebAssembly that the playground runs and that the kernel runs as BPF) for
N connections to the Service. Workloads without EndpointSlices get made-up pods and IPs.

Options:
  --to NAME[.NAMESPACE]:PORT   the Service and port (number or name) to connect to (required);
                               also NAME.NAMESPACE.svc[.cluster.local]:PORT, NAMESPACE/NAME:PORT,
                               or its ClusterIP, 10.96.0.10:80 or [fd00::10]:80
  --from NAMESPACE/POD         the client pod: its node and zone decide local endpoints, its
                               identity decides Maglev and session affinity. Without it every
                               connection comes from a different client.
  --header 'Name: value'       a request header, for HTTPRoute matches (repeatable)
  --path P                     request path (default /); a ?query in it is split off, as with --query
  --method M                   request method (default GET)
  --query k=v                  a query parameter (repeatable)
  --connections N              connections (or requests, for an L7 route) (default 1000)
  --seed S                     seed of the random choices (default 1): same seed, same output
  --interval-ms T              simulated time between connections (default 1), for affinity
  --strict                     exit 1 when anything is reported about the manifests: an error,
                               or a warning such as a field meshc does not apply (default:
                               report, go on)
  --quiet                      print errors only, no warnings
  --verbose                    also count the objects of kinds meshc does not need (ConfigMap...)
  --json                       print one JSON object on stdout, with the diagnostics
                               ({file, document, line, kind, namespace, name, field, message,
                               severity}, document 1-based) and warnings
  -h, --help                   this help

Examples:
  meshc simulate fixtures/product-api --to product-api:80 --connections 30000
  meshc simulate fixtures/product-api --to product-api:80 --header 'X-Canary-User: true'
`;

export const command = { summary: 'simulate routing decisions offline', run };

function targetOption(text: string): ServiceAddress {
  const target = parseServiceAddress(text);
  if (!target) throw new UsageError(`meshc simulate: --to "${text}" is not NAME[.NAMESPACE]:PORT, NAME.NAMESPACE.svc[.cluster.local]:PORT, NAMESPACE/NAME:PORT or CLUSTER-IP:PORT`);
  return target;
}

function parseHeaders(values: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const text of values) {
    const colon = text.indexOf(':');
    if (colon <= 0) throw new UsageError(`meshc simulate: --header "${text}" is not 'Name: value'`);
    if (/[\r\n\0]/.test(text)) throw new UsageError(`meshc simulate: --header ${JSON.stringify(text)} contains CR, LF or NUL, which no request header holds`);
    headers[text.slice(0, colon).trim()] = text.slice(colon + 1).trim();
  }
  return headers;
}

function parseQuery(values: string[]): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  for (const text of values) {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new UsageError(`meshc simulate: --query "${text}" is not k=v`);
    (query[text.slice(0, eq)] ??= []).push(text.slice(eq + 1));
  }
  return query;
}

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand('simulate', args, {
    to: { type: 'string' },
    from: { type: 'string' },
    header: { type: 'string', multiple: true },
    path: { type: 'string' },
    method: { type: 'string' },
    query: { type: 'string', multiple: true },
    connections: { type: 'string' },
    seed: { type: 'string' },
    'interval-ms': { type: 'string' },
    strict: { type: 'boolean' },
    quiet: { type: 'boolean' },
    verbose: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('meshc simulate: give at least one PATH of manifests');
  if (!values.to) throw new UsageError('meshc simulate: --to NAME[.NAMESPACE]:PORT is required');
  const missing = positionals.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new InputError(`meshc simulate: no such file or directory: ${missing.join(', ')}`);
  const path = values.path ?? '/';
  if (!path.startsWith('/')) throw new UsageError(`meshc simulate: --path "${path}" must start with "/"`);
  const target = splitPath(path);
  const query = parseQuery(values.query ?? []);
  for (const [key, list] of Object.entries(target.query)) (query[key] ??= []).unshift(...list);
  const input: SimulateInput = {
    to: targetOption(values.to),
    from: values.from,
    request: {
      path: target.path,
      method: values.method ?? 'GET',
      headers: parseHeaders(values.header ?? []),
      query,
    },
    connections: integerOption('simulate', 'connections', values.connections, 1000, 1),
    seed: integerOption('simulate', 'seed', values.seed, 1),
    intervalMs: values['interval-ms'] === undefined ? 1 : Number(values['interval-ms']),
  };
  if (!Number.isFinite(input.intervalMs) || input.intervalMs! < 0) throw new UsageError('meshc simulate: --interval-ms must be a number >= 0');
  const model = await loadManifests(positionals);
  for (const d of model.diagnostics) if (!values.quiet || d.severity === 'error') io.stderr.write(`${formatDiagnostic(d)}\n`);
  const ignored = formatIgnored(model.ignored);
  if (values.verbose && ignored) io.stderr.write(`${ignored}\n`);
  const errors = model.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = model.diagnostics.length - errors;
  if (values.strict && model.diagnostics.length > 0) {
    throw new InputError(`meshc simulate: ${errors} error(s) and ${warnings} warning(s) in the manifests (--strict)`);
  }
  let result: SimulateResult;
  try {
    result = simulate(model, await loadPolicyWasm(), input);
  } catch (error) {
    if (error instanceof SimulateError) throw new InputError(`meshc simulate: ${error.message}`);
    throw error;
  }
  if (!values.quiet) for (const w of result.warnings) io.stderr.write(`warning: ${w}\n`);
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ ...result, diagnostics: model.diagnostics.map(diagnosticJson) })}\n`);
  } else {
    io.stdout.write(formatResult(result, input));
  }
  return 0;
}

const BAR_WIDTH = 30;

export function formatResult(result: SimulateResult, input: SimulateInput): string {
  const s = result.service;
  const lines: string[] = [];
  lines.push(`Service ${s.namespace}/${s.name} port ${s.port} (ClusterIP ${s.clusterIP})`);
  if (result.route) {
    const req = input.request ?? {};
    const headers = Object.entries(req.headers ?? {}).map(([k, v]) => ` ${k}: ${v}`).join(',');
    const query = Object.entries(req.query ?? {}).flatMap(([k, list]) => (typeof list === 'string' ? [list] : list).map((v) => `${k}=${v}`)).join('&');
    lines.push(`HTTPRoute ${result.route.namespace}/${result.route.name}, rule ${result.route.rule} (request ${req.method ?? 'GET'} ${req.path ?? '/'}${query ? `?${query}` : ''}${headers ? `,${headers}` : ''})`);
  } else if (result.status === 404) {
    lines.push('No HTTPRoute rule matches the request: every request gets 404');
  } else {
    lines.push('No HTTPRoute applies: plain Service load balancing');
  }
  lines.push(...servedLines(result, input.request?.method));
  if (result.filters?.redirect) return `${lines.join('\n')}\n`;
  lines.push(`${result.connections} ${result.route ? 'requests' : 'connections'}, ${result.refused} refused`);
  for (const [reason, n] of Object.entries(result.refusedReasons)) lines.push(`  refused (${reason}): ${n}`);
  lines.push(...networkLines(result.networkPolicy));
  lines.push('');
  const rows = result.backends.map((b) => [
    b.service, b.pod ?? '-', `${b.ip}:${b.port}`, String(b.count), `${((100 * b.count) / result.connections).toFixed(1)}%`,
    shareBar(b.count, result.connections, BAR_WIDTH),
  ]);
  lines.push(...formatTable([['SERVICE', 'POD', 'ADDRESS', 'COUNT', 'SHARE'], ...rows], { right: [3, 4] }));
  return `${lines.join('\n')}\n`;
}
