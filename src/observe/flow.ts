// One flow record for both paths: a connection decided in the kernel (L4, from the ring buffer's
// events, src/inspect/events.ts) and a request served by the node proxy (L7, from HAProxy's request
// log). Pure: the names come from a FlowDirectory (directory.ts) the agent keeps current.
import type { MonitorEvent } from '../inspect/events.ts';
import type { Denial } from '../netpol/monitor.ts';
import type { TunnelEvent } from '../tunnel/tunnel.ts';
import type { FlowDirectory, FlowPod } from './directory.ts';

/**
 * What happened to the flow. `authenticated` is a connection the node tunnel carried with mutual
 * TLS between workload identities (docs/tunnel.md); `redirected` is an L7 request the node proxy
 * answered with a redirect.
 */
export type Verdict = 'translated' | 'refused' | 'denied' | 'authenticated' | 'redirected';
export const VERDICTS: readonly Verdict[] = ['translated', 'refused', 'denied', 'authenticated', 'redirected'];

export interface FlowHttp {
  method: string;
  path: string;
  /** `namespace/name` of the HTTPRoute whose rule was chosen, null when none matched. */
  route: string | null;
  /** Index of the chosen rule in the route's spec.rules. */
  rule: number | null;
  status: number;
  /** Total time from the request's first byte to the response's end (HAProxy %Ta), ms. */
  durationMs: number;
  /** The backend's response time (HAProxy %Tr), ms; null when no backend answered. */
  serverMs: number | null;
  /** HAProxy's termination state (%tsc: `----` for a clean end). */
  termination: string;
}

export interface Flow {
  /** ISO 8601 with milliseconds. */
  time: string;
  layer: 'L4' | 'L7';
  source: {
    pod: FlowPod | null;
    /** The client's address (L7) or null (L4: the kernel names the cgroup, not the address). */
    address: string | null;
    /** The client's cgroup path (L4 only). */
    cgroup: string | null;
  };
  destination: {
    /** `namespace/name` of the Service the client dialled. */
    service: string | null;
    port: number | null;
    /** Where it went: the backend's Service (a route may send elsewhere) and pod. */
    backend: { service: string | null; pod: string | null; address: string | null } | null;
  };
  /** TCP or UDP for L4, HTTP for L7. */
  protocol: string;
  verdict: Verdict;
  reason?: string;
  /** L4 only: which kernel event this is (a connection's translation, establishment, close). */
  event?: string;
  /** Denied flows: the network policy that decided (`Kind namespace/name`). */
  policy?: string;
  http?: FlowHttp;
  /** Flows of the node tunnel: the workload identities (SPIFFE IDs) on both ends, and this node's side. */
  identity?: { direction: 'outbound' | 'inbound'; source: string | null; destination: string | null };
}

/** One request of HAProxy's log (ACCESS_LOG_FORMAT in src/proxy/haproxy-config.ts), as printed. */
export interface AccessLogEntry {
  unixMs: number;
  client: string;
  clientPort: number;
  listener: string;
  pool: string;
  /** The server slot, or null when HAProxy answered itself (`<NOSRV>`). */
  server: string | null;
  serverAddress: string | null;
  serverPort: number | null;
  /** The listener's rule index (txn.meshc_rule), null when no match held. */
  rule: number | null;
  group: number | null;
  status: number;
  totalMs: number;
  serverMs: number | null;
  termination: string;
  method: string;
  path: string;
}

const FIELDS = 14;

/** Parses one log datagram; a string says why it is not a request line (HAProxy's own notices are not). */
export function parseAccessLog(line: string): AccessLogEntry | string {
  const text = line.replace(/\n$/, '');
  if (!text.startsWith('meshc1 ')) return `not a meshc request line: ${JSON.stringify(text.slice(0, 80))}`;
  const parts: string[] = [];
  let at = 0;
  for (let i = 0; i < FIELDS; i++) {
    const space = text.indexOf(' ', at);
    if (space < 0) return `a request line with ${i + 1} fields, expected ${FIELDS + 1}: ${JSON.stringify(text.slice(0, 120))}`;
    parts.push(text.slice(at, space));
    at = space + 1;
  }
  const path = text.slice(at);
  const [, time, client, listener, pool, server, serverAt, rule, group, status, total, serverTime, termination, method] = parts as [string, ...string[]];
  const unixMs = Math.round(Number(time) * 1000);
  const [clientAddress, clientPort] = splitHostPort(client!);
  const [serverAddress, serverPort] = splitHostPort(serverAt!);
  const number = (text: string) => (text === '-' || text === '' ? null : Number(text));
  const statusCode = Number(status);
  if (!Number.isFinite(unixMs) || !Number.isInteger(statusCode)) return `a request line with a bad time or status: ${JSON.stringify(text.slice(0, 120))}`;
  const serverMs = number(serverTime!);
  return {
    unixMs,
    client: clientAddress,
    clientPort: clientPort ?? 0,
    listener: listener!,
    pool: pool!,
    server: server === '<NOSRV>' ? null : server!,
    serverAddress: server === '<NOSRV>' || serverAddress === '-' ? null : serverAddress,
    serverPort: server === '<NOSRV>' ? null : serverPort,
    rule: number(rule!),
    group: number(group!),
    status: statusCode,
    totalMs: number(total!) ?? 0,
    // HAProxy prints -1 when no response came from a server.
    serverMs: serverMs === null || serverMs < 0 ? null : serverMs,
    termination: termination!,
    method: method!,
    path,
  };
}

/** `1.2.3.4:80` or `::1:80` (HAProxy prints IPv6 without brackets): the last colon splits. */
function splitHostPort(text: string): [string, number | null] {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return [text, null];
  const port = Number(text.slice(colon + 1));
  return [text.slice(0, colon), Number.isInteger(port) ? port : null];
}

/** Why the node proxy answered a request itself, by status (haproxy-config.ts writes these). */
function proxyAnswer(status: number): { verdict: Verdict; reason: string } {
  if (status >= 300 && status < 400) return { verdict: 'redirected', reason: 'RequestRedirect' };
  if (status === 404) return { verdict: 'refused', reason: 'no-route-match' };
  if (status === 500) return { verdict: 'refused', reason: 'invalid-backend-ref' };
  if (status === 503) return { verdict: 'refused', reason: 'no-endpoint' };
  return { verdict: 'refused', reason: `answered-by-proxy-${status}` };
}

/** The L7 flow of one request line, named through `directory`. */
export function l7Flow(entry: AccessLogEntry, directory: FlowDirectory): Flow {
  const listener = directory.listener(entry.listener);
  const rule = entry.rule === null ? undefined : listener?.rules[entry.rule];
  const backendService = entry.server === null ? null : directory.poolService(entry.pool);
  const answered = entry.server === null ? proxyAnswer(entry.status) : undefined;
  return {
    time: new Date(entry.unixMs).toISOString(),
    layer: 'L7',
    source: { pod: directory.podByAddress(entry.client), address: entry.client, cgroup: null },
    destination: {
      service: listener?.service ?? null,
      port: listener?.port ?? null,
      backend: entry.server === null ? null : {
        service: backendService,
        pod: entry.serverAddress === null || entry.serverPort === null ? null : directory.backendPod(entry.serverAddress, entry.serverPort),
        address: entry.serverAddress === null ? null : `${entry.serverAddress}:${entry.serverPort}`,
      },
    },
    protocol: 'HTTP',
    verdict: answered?.verdict ?? 'translated',
    ...(answered ? { reason: answered.reason } : {}),
    http: {
      method: entry.method,
      path: entry.path,
      route: rule?.route ?? null,
      rule: rule?.rule ?? null,
      status: entry.status,
      durationMs: entry.totalMs,
      serverMs: entry.serverMs,
      termination: entry.termination,
    },
  };
}

/** `namespace/name:port/PROTO` (mc_names' service names) to Service and port. */
function serviceName(name: string | null): { service: string | null; port: number | null } {
  if (name === null) return { service: null, port: null };
  const m = /^(.*):(\d+)\/\w+$/.exec(name);
  return m ? { service: m[1]!, port: Number(m[2]) } : { service: name, port: null };
}

/** The L4 flow of one kernel event (monitor's description of it), named through `directory`. */
export function l4Flow(event: MonitorEvent, directory: FlowDirectory): Flow {
  const dialled = serviceName(event.service.name);
  const toProxy = event.backend?.name != null && directory.isProxyListener(event.backend.name);
  const backend = event.backend === null ? null : toProxy ? { service: 'node proxy', pod: null } : directory.backendById(event.backend.id);
  return {
    time: event.time,
    layer: 'L4',
    source: { pod: event.cgroup.path === null ? null : directory.podByCgroupPath(event.cgroup.path), address: null, cgroup: event.cgroup.path },
    destination: {
      service: dialled.service,
      port: dialled.port,
      backend: event.backend === null ? null : toProxy
        ? { service: 'node proxy', pod: null, address: event.backend.name }
        : { service: backend?.service ?? null, pod: backend?.pod ?? event.backend.name, address: null },
    },
    protocol: event.protocol,
    verdict: event.event === 'refused' ? 'refused' : 'translated',
    ...(event.reason ? { reason: event.reason } : {}),
    event: event.event,
  };
}

/** A connect() network policy denied (mc_np_events, src/netpol/monitor.ts), named through `directory`. */
export function deniedFlow(denial: Denial, directory: FlowDirectory): Flow {
  const d = denial.destination;
  const address = `${d.address.includes(':') ? `[${d.address}]` : d.address}:${d.port}`;
  const pod = directory.podByAddress(d.address);
  return {
    time: denial.time,
    layer: 'L4',
    source: { pod: denial.cgroup.path === null ? null : directory.podByCgroupPath(denial.cgroup.path), address: null, cgroup: denial.cgroup.path },
    destination: {
      service: null,
      port: d.port,
      backend: { service: null, pod: pod ? `${pod.namespace}/${pod.name}` : d.name, address },
    },
    protocol: d.protocol,
    verdict: 'denied',
    reason: denial.reason,
    event: 'denied',
    policy: denial.policy.name ?? `policy ${denial.policy.id}`,
  };
}

/**
 * A connection the node tunnel opened (`authenticated`) or refused (`denied`, the tunnel's reason),
 * named through `directory`; undefined for a close (a connection counts once, as in the kernel's
 * events). Outbound events name the client pod by its address; inbound ones know the peer only by
 * the identity its certificate proves.
 */
export function tunnelFlow(event: TunnelEvent, directory: FlowDirectory): Flow | undefined {
  if (event.type === 'closed') return undefined;
  const colon = event.target?.lastIndexOf(':') ?? -1;
  const ip = event.target && colon > 0 ? event.target.slice(0, colon) : null;
  const port = event.target && colon > 0 ? Number(event.target.slice(colon + 1)) : null;
  const pod = ip === null ? null : directory.podByAddress(ip);
  return {
    time: new Date(event.time).toISOString(),
    layer: 'L4',
    source: { pod: event.client ? directory.podByAddress(event.client) : null, address: event.client ?? null, cgroup: null },
    destination: {
      service: null,
      port,
      backend: event.target ? { service: null, pod: pod ? `${pod.namespace}/${pod.name}` : null, address: event.target } : null,
    },
    protocol: 'TCP',
    verdict: event.type === 'opened' ? 'authenticated' : 'denied',
    ...(event.type === 'refused' && event.reason ? { reason: `tunnel-${event.reason}` } : {}),
    event: `tunnel-${event.direction}`,
    identity: { direction: event.direction, source: event.source ?? null, destination: event.destination ?? null },
  };
}
