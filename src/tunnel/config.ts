// The tunnel's view of the node, as the agent writes it: where it listens, which cgroup is which
// source identity, which identity and node each destination pod has, and which identities may
// reach each local pod. Checked once at the edge, with errors that name the field.
import { isIPv4 } from 'node:net';
import { parseSpiffeId } from './identity.ts';

export interface Listen {
  addr: string;
  port: number;
}

/** A local pod as a client: the identity its cgroup speaks for, and its address. */
export interface Source {
  identity: string;
  addr: string;
}

/** A pod that requires authentication, seen from the client's node. */
export interface Destination {
  identity: string;
  /** The inbound listener of the tunnel on the pod's node. */
  node: Listen;
}

/** A local pod that requires authentication, seen from its own node. */
export interface LocalPod {
  identity: string;
  allowed: string[];
}

export interface TunnelConfig {
  node: string;
  trustDomain: string;
  outbound: Listen;
  inbound: Listen;
  /** bpffs directory with mc_tun_pending (omitted: no steered connection has a record). */
  pin?: string;
  /** Oldest steering record honoured, in ms (a record is read within ms of connect()). */
  recordMaxAgeMs: number;
  /** Key: cgroup id (decimal). */
  sources: Map<string, Source>;
  /** Key: pod IPv4 address. */
  destinations: Map<string, Destination>;
  /** Key: pod IPv4 address. */
  local: Map<string, LocalPod>;
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${field}: expected an object`);
  return value as Record<string, unknown>;
}

function string(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`${field}: expected a non-empty string`);
  return value;
}

function ip(value: unknown, field: string): string {
  const s = string(value, field);
  if (!isIPv4(s)) throw new Error(`${field}: "${s}" is not an IPv4 address`);
  return s;
}

function port(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${field}: expected a port (1-65535), got ${JSON.stringify(value)}`);
  return value;
}

function listen(value: unknown, field: string): Listen {
  const o = object(value, field);
  return { addr: ip(o.addr, `${field}.addr`), port: port(o.port, `${field}.port`) };
}

function identity(value: unknown, field: string, trustDomain: string): string {
  const id = string(value, field);
  const parts = parseSpiffeId(id, field);
  if (parts.trustDomain !== trustDomain) throw new Error(`${field}: "${id}" is not in trust domain ${trustDomain}`);
  return id;
}

/** Reads a tunnel configuration (parsed JSON); `name` is where it came from, for errors. */
export function readTunnelConfig(raw: unknown, name = 'tunnel config'): TunnelConfig {
  const o = object(raw, name);
  const trustDomain = string(o.trustDomain, `${name}: trustDomain`);
  const sources = new Map<string, Source>();
  for (const [cgroup, value] of Object.entries(object(o.sources ?? {}, `${name}: sources`))) {
    if (!/^[1-9][0-9]*$/.test(cgroup)) throw new Error(`${name}: sources: key "${cgroup}" is not a cgroup id`);
    const s = object(value, `${name}: sources.${cgroup}`);
    sources.set(cgroup, { identity: identity(s.identity, `${name}: sources.${cgroup}.identity`, trustDomain), addr: ip(s.addr, `${name}: sources.${cgroup}.addr`) });
  }
  const destinations = new Map<string, Destination>();
  for (const [addr, value] of Object.entries(object(o.destinations ?? {}, `${name}: destinations`))) {
    ip(addr, `${name}: destinations key`);
    const d = object(value, `${name}: destinations.${addr}`);
    destinations.set(addr, { identity: identity(d.identity, `${name}: destinations.${addr}.identity`, trustDomain), node: listen(d.node, `${name}: destinations.${addr}.node`) });
  }
  const local = new Map<string, LocalPod>();
  for (const [addr, value] of Object.entries(object(o.local ?? {}, `${name}: local`))) {
    ip(addr, `${name}: local key`);
    const l = object(value, `${name}: local.${addr}`);
    if (!Array.isArray(l.allowed)) throw new Error(`${name}: local.${addr}.allowed: expected a list of SPIFFE IDs`);
    local.set(addr, {
      identity: identity(l.identity, `${name}: local.${addr}.identity`, trustDomain),
      allowed: l.allowed.map((a, i) => identity(a, `${name}: local.${addr}.allowed[${i}]`, trustDomain)),
    });
  }
  const age = o.recordMaxAgeMs ?? 10_000;
  if (typeof age !== 'number' || age <= 0) throw new Error(`${name}: recordMaxAgeMs: expected a positive number of ms`);
  return {
    node: string(o.node, `${name}: node`),
    trustDomain,
    outbound: listen(o.outbound, `${name}: outbound`),
    inbound: listen(o.inbound, `${name}: inbound`),
    pin: o.pin === undefined ? undefined : string(o.pin, `${name}: pin`),
    recordMaxAgeMs: age,
    sources,
    destinations,
    local,
  };
}
