// EndpointSlice objects, with the API's defaults for endpoint conditions.

import type { Endpoint, Family, Node, Protocol } from './types.ts';
import type { FieldPath } from './manifest-doc.ts';
import type { Reporter } from './diagnostics.ts';
import type { KubeObject } from './objects.ts';
import { PORT_RANGE, PROTOCOLS } from './service.ts';
import { booleanAt, enumAt, integerInRange, listAt, mappingAt, mappingsAt, stringAt, type Fields } from './fields.ts';
import { formatAddress, parseAddress, specialAddressProblem } from './ip.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface SlicePort {
  name: string;
  port: number;
  protocol: Protocol;
}

/** An endpoint of a slice, before a Service port picks its target port. */
export type SliceEndpoint = Omit<Endpoint, 'port'>;

export interface EndpointSliceInfo {
  namespace: string;
  name: string;
  /** The Service it belongs to (label kubernetes.io/service-name). */
  serviceName: string;
  ports: SlicePort[];
  endpoints: SliceEndpoint[];
}

const ADDRESS_TYPES = ['IPv4', 'IPv6', 'FQDN'] as const;

/** An EndpointSlice, or undefined when it is invalid or not something meshc balances over. */
export function normalizeEndpointSlice(object: KubeObject, nodes: ReadonlyMap<string, Node>): EndpointSliceInfo | undefined {
  const { body, meta, report } = object;
  if (body['addressType'] === undefined) report.reject(['addressType'], 'is required (IPv4, IPv6 or FQDN)');
  const addressType = enumAt(body, 'addressType', [], report, ADDRESS_TYPES, 'IPv4');
  if (addressType === 'FQDN' && !report.rejected) {
    report.warn(['addressType'], 'FQDN endpoints are not load-balanced by meshc; slice ignored');
    return undefined;
  }
  const serviceName = meta.labels[SERVICE_NAME_LABEL];
  const slice: EndpointSliceInfo = {
    namespace: meta.namespace,
    name: meta.name,
    serviceName: serviceName ?? '',
    ports: mappingsAt(body, 'ports', [], report).flatMap(([entry, index]) => readSlicePort(entry, ['ports', index], report)),
    endpoints: mappingsAt(body, 'endpoints', [], report).flatMap(([entry, index]) =>
      readSliceEndpoint(entry, ['endpoints', index], addressType === 'IPv6' ? 6 : 4, meta.namespace, nodes, report),
    ),
  };
  if (report.rejected) return undefined;
  if (!serviceName) {
    report.warn(['metadata', 'labels'], `has no label ${SERVICE_NAME_LABEL}, so it belongs to no Service; slice ignored`);
    return undefined;
  }
  return slice;
}

/** A port without a number means "all ports"; meshc cannot translate that and skips it. */
function readSlicePort(entry: Fields, path: FieldPath, report: Reporter): SlicePort[] {
  const port = integerInRange(entry, 'port', path, report, PORT_RANGE);
  const name = stringAt(entry, 'name', path, report) ?? '';
  const protocol = enumAt(entry, 'protocol', path, report, PROTOCOLS, 'TCP');
  if (port === undefined) {
    if (!report.rejected) report.warn([...path, 'port'], 'a port without a number is not supported; skipped');
    return [];
  }
  return [{ name, port, protocol }];
}

function readSliceEndpoint(
  entry: Fields,
  path: FieldPath,
  family: Family,
  namespace: string,
  nodes: ReadonlyMap<string, Node>,
  report: Reporter,
): SliceEndpoint[] {
  const ip = readFirstAddress(entry, path, family, report);
  if (ip === undefined) return [];
  const endpoint: SliceEndpoint = { ip, family, ...readConditions(entry, path, report) };
  const nodeName = stringAt(entry, 'nodeName', path, report);
  if (nodeName) endpoint.nodeName = nodeName;
  const zone = stringAt(entry, 'zone', path, report) || (nodeName ? nodes.get(nodeName)?.zone : undefined);
  if (zone) endpoint.zone = zone;
  const forZones = readForZones(entry, path, report);
  if (forZones) endpoint.forZones = forZones;
  const pod = readPodRef(entry, path, namespace, report);
  if (pod) endpoint.pod = pod;
  return [endpoint];
}

/** Consumers may use only the first address: the addresses of one endpoint are interchangeable. */
function readFirstAddress(entry: Fields, path: FieldPath, family: Family, report: Reporter): string | undefined {
  const addresses = listAt(entry, 'addresses', path, report);
  if (addresses.length === 0) {
    report.reject([...path, 'addresses'], 'needs at least one address');
    return undefined;
  }
  let first: string | undefined;
  addresses.forEach((text, index) => {
    const address = typeof text === 'string' ? parseAddress(text) : undefined;
    const problem = address && specialAddressProblem(address);
    if (!address || address.family !== family) {
      report.reject([...path, 'addresses', index], `${JSON.stringify(text)} is not a valid IPv${family} address`);
    } else if (problem) {
      report.reject([...path, 'addresses', index], `${JSON.stringify(text)} ${problem}: not a valid endpoint`);
    } else if (first === undefined) {
      first = formatAddress(address);
    }
  });
  return first;
}

/**
 * EndpointConditions defaults (discovery/v1): ready unset means ready; serving unset defers to
 * ready; terminating unset means not terminating.
 */
function readConditions(entry: Fields, path: FieldPath, report: Reporter): Pick<SliceEndpoint, 'ready' | 'serving' | 'terminating'> {
  const conditions = mappingAt(entry, 'conditions', path, report);
  const at = [...path, 'conditions'];
  const ready = booleanAt(conditions, 'ready', at, report) ?? true;
  const serving = booleanAt(conditions, 'serving', at, report) ?? ready;
  const terminating = booleanAt(conditions, 'terminating', at, report) ?? false;
  return { ready, serving, terminating };
}

function readForZones(entry: Fields, path: FieldPath, report: Reporter): string[] | undefined {
  const hints = mappingAt(entry, 'hints', path, report);
  if (hints['forZones'] === undefined) return undefined;
  return mappingsAt(hints, 'forZones', [...path, 'hints'], report)
    .map(([zone, index]) => stringAt(zone, 'name', [...path, 'hints', 'forZones', index], report))
    .filter((name): name is string => Boolean(name));
}

function readPodRef(entry: Fields, path: FieldPath, namespace: string, report: Reporter): SliceEndpoint['pod'] {
  const ref = mappingAt(entry, 'targetRef', path, report);
  const at = [...path, 'targetRef'];
  if (stringAt(ref, 'kind', at, report) !== 'Pod') return undefined;
  const name = stringAt(ref, 'name', at, report);
  if (!name) return undefined;
  return { namespace: stringAt(ref, 'namespace', at, report) || namespace, name };
}
