// Service objects: validation, defaults, and ClusterIP assignment.

import type { Algorithm, Family, Protocol, Service, ServicePort } from './types.ts';
import type { FieldPath } from './manifest-doc.ts';
import type { KubeObject } from './objects.ts';
import type { Reporter, WithReporter } from './diagnostics.ts';
import { ALG } from '../generated/constants.ts';
import { AddressAllocator } from './address-allocator.ts';
import { cidrContains, formatAddress, parseAddress, specialAddressProblem, type Cidr } from './ip.ts';
import {
  enumAt,
  integerInRange,
  listAt,
  mappingAt,
  mappingsAt,
  stringAt,
  stringMapAt,
  describe,
  type Fields,
} from './fields.ts';

export const ALGORITHM_ANNOTATION = 'meshc.io/lb-algorithm';
/** The policy's algorithms, in the order of their ALG_* values. */
export const ALGORITHMS = Object.keys(ALG) as readonly Algorithm[];
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];
const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const;
const DEFAULT_AFFINITY_TIMEOUT = 10800;
const MAX_AFFINITY_TIMEOUT = 86400;

/** A DNS-1035 label: the rule for Service names. */
const DNS_LABEL_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** A DNS-1123 label: the rule for Service port names. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\.?$/i;

export const PORT_RANGE = { min: 1, max: 65535, what: 'port' };

/** A Service with defaults applied, or undefined when the API server would refuse it. */
export function normalizeService(object: KubeObject): Service | undefined {
  const { body, meta, report } = object;
  if (meta.name.length > 63 || !DNS_LABEL_1035.test(meta.name)) {
    report.reject(['metadata', 'name'], `${JSON.stringify(meta.name)} is not a valid Service name (DNS-1035 label: a-z, 0-9, '-', starting with a letter)`);
  }
  const spec = mappingAt(body, 'spec', [], report);
  const path = ['spec'];
  const type = enumAt(spec, 'type', path, report, SERVICE_TYPES, 'ClusterIP');
  const addresses = readClusterIPs(spec, type, report);
  const selector = stringMapAt(spec, 'selector', path, report);
  const service: Service = {
    meta,
    type,
    clusterIPs: addresses.clusterIPs,
    headless: addresses.headless,
    ports: readServicePorts(spec, type === 'ExternalName' || addresses.headless, report),
    sessionAffinity: enumAt(spec, 'sessionAffinity', path, report, ['None', 'ClientIP'] as const, 'None'),
    affinityTimeoutSeconds: readAffinityTimeout(spec, report),
    internalTrafficPolicy: enumAt(spec, 'internalTrafficPolicy', path, report, ['Cluster', 'Local'] as const, 'Cluster'),
    preferSameZone: readTrafficDistribution(spec, report),
    algorithm: readAlgorithm(meta.annotations, report),
  };
  readIPFamilies(spec, service, report);
  if (type === 'ExternalName') service.externalName = readExternalName(spec, report);
  if (Object.keys(selector).length > 0 && type !== 'ExternalName') service.selector = selector;
  return report.rejected ? undefined : service;
}

const IP_FAMILY_POLICIES = ['SingleStack', 'PreferDualStack', 'RequireDualStack'] as const;
const IP_FAMILIES = ['IPv4', 'IPv6'] as const;

/**
 * spec.ipFamilyPolicy and spec.ipFamilies, checked as the API server does: at most two distinct
 * families, one with SingleStack, each in the order of the written clusterIPs.
 */
function readIPFamilies(spec: Fields, service: Service, report: Reporter): void {
  const path = ['spec'];
  if (spec['ipFamilyPolicy'] !== undefined && spec['ipFamilyPolicy'] !== null) {
    service.ipFamilyPolicy = enumAt(spec, 'ipFamilyPolicy', path, report, IP_FAMILY_POLICIES, 'SingleStack');
  }
  const written = listAt(spec, 'ipFamilies', path, report);
  if (written.length === 0) return;
  const families: Family[] = [];
  written.forEach((text, index) => {
    const at = [...path, 'ipFamilies', index];
    if (text !== 'IPv4' && text !== 'IPv6') report.reject(at, `${JSON.stringify(text)} is not one of ${IP_FAMILIES.join(', ')}`);
    else if (families.includes(text === 'IPv4' ? 4 : 6)) report.reject(at, `${text} is listed twice`);
    else families.push(text === 'IPv4' ? 4 : 6);
  });
  if (written.length > 2) report.reject([...path, 'ipFamilies'], 'may list at most two families');
  if (service.ipFamilyPolicy === 'SingleStack' && written.length > 1) report.reject([...path, 'ipFamilies'], 'must list one family when ipFamilyPolicy is SingleStack');
  service.clusterIPs.forEach((ip, index) => {
    const family = parseAddress(ip)?.family;
    if (families[index] !== undefined && family !== families[index]) {
      report.reject([...path, 'ipFamilies', index], `IPv${families[index]} does not match the family of clusterIPs[${index}] (${ip})`);
    }
  });
  if (service.type !== 'ExternalName') service.ipFamilies = families;
}

/**
 * The families a Service gets ClusterIPs of, primary first: the written clusterIPs' and
 * ipFamilies', then with PreferDualStack or RequireDualStack the other family (meshc simulates a
 * dual-stack cluster with IPv4 as its default family).
 */
export function wantedFamilies(service: Service): Family[] {
  const families: Family[] = service.clusterIPs.map((ip) => parseAddress(ip)?.family ?? 4);
  for (const family of service.ipFamilies ?? []) if (!families.includes(family)) families.push(family);
  if (families.length === 0) families.push(4);
  const policy = service.ipFamilyPolicy ?? (families.length > 1 ? 'RequireDualStack' : 'SingleStack');
  if (policy !== 'SingleStack' && families.length === 1) families.push(families[0] === 4 ? 6 : 4);
  return policy === 'SingleStack' ? families.slice(0, 1) : families;
}

function readClusterIPs(spec: Fields, type: Service['type'], report: Reporter): { clusterIPs: string[]; headless: boolean } {
  const path = ['spec'];
  const single = stringAt(spec, 'clusterIP', path, report) ?? '';
  const list = listAt(spec, 'clusterIPs', path, report);
  const texts = list.length > 0 ? list : single === '' ? [] : [single];
  if (list.length > 0 && single !== '' && list[0] !== single) {
    report.reject([...path, 'clusterIPs', 0], `must equal spec.clusterIP (${JSON.stringify(single)})`);
  }
  if (texts.length === 0) return { clusterIPs: [], headless: false };
  const field: FieldPath = list.length > 0 ? [...path, 'clusterIPs'] : [...path, 'clusterIP'];
  if (type === 'ExternalName') {
    report.reject(field, 'must not be set for an ExternalName Service');
    return { clusterIPs: [], headless: false };
  }
  if (texts[0] === 'None') {
    if (type !== 'ClusterIP') report.reject(field, `"None" (headless) needs type ClusterIP, not ${type}`);
    return { clusterIPs: [], headless: true };
  }
  return { clusterIPs: validClusterIPs(texts, field, list.length > 0, report), headless: false };
}

function validClusterIPs(texts: unknown[], field: FieldPath, isList: boolean, report: Reporter): string[] {
  if (texts.length > 2) report.reject(field, 'may hold at most two addresses, one per IP family');
  const families = new Set<number>();
  const clusterIPs: string[] = [];
  texts.forEach((text, index) => {
    const at = isList ? [...field, index] : field;
    const address = typeof text === 'string' ? parseAddress(text) : undefined;
    const problem = address && specialAddressProblem(address);
    if (!address) report.reject(at, `${typeof text === 'string' ? JSON.stringify(text) : describe(text)} is not a valid IP address`);
    else if (problem) report.reject(at, `${JSON.stringify(text)} ${problem}: not a valid ClusterIP`);
    else if (families.has(address.family)) report.reject(at, `a second IPv${address.family} address; dual-stack needs one address per family`);
    else {
      families.add(address.family);
      clusterIPs.push(formatAddress(address));
    }
  });
  return clusterIPs;
}

function readServicePorts(spec: Fields, portsOptional: boolean, report: Reporter): ServicePort[] {
  const path = ['spec'];
  const entries = mappingsAt(spec, 'ports', path, report);
  const wrongShape = spec['ports'] !== undefined && spec['ports'] !== null && !Array.isArray(spec['ports']);
  if (entries.length === 0 && !portsOptional && !wrongShape) report.reject([...path, 'ports'], 'a Service needs at least one port');
  const ports = entries.map(([entry, index]) => readServicePort(entry, [...path, 'ports', index], entries.length > 1, report));
  rejectDuplicatePorts(ports, report);
  return ports;
}

function readServicePort(entry: Fields, path: FieldPath, named: boolean, report: Reporter): ServicePort {
  const name = stringAt(entry, 'name', path, report) ?? '';
  if (named && name === '') report.reject([...path, 'name'], 'is required when the Service has more than one port');
  else if (name !== '' && (name.length > 63 || !DNS_LABEL.test(name))) report.reject([...path, 'name'], `${JSON.stringify(name)} is not a valid port name (DNS label)`);
  if (entry['port'] === undefined) report.reject([...path, 'port'], 'is required');
  const port = integerInRange(entry, 'port', path, report, PORT_RANGE) ?? 0;
  const servicePort: ServicePort = {
    name,
    port,
    protocol: enumAt(entry, 'protocol', path, report, PROTOCOLS, 'TCP'),
    targetPort: readTargetPort(entry, path, report) ?? port,
  };
  const appProtocol = stringAt(entry, 'appProtocol', path, report);
  if (appProtocol) servicePort.appProtocol = appProtocol;
  return servicePort;
}

/** A number, or a container port name (IANA service name rules). Undefined when absent. */
function readTargetPort(entry: Fields, path: FieldPath, report: Reporter): number | string | undefined {
  const value = entry['targetPort'];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    if (!isContainerPortName(value)) {
      report.reject([...path, 'targetPort'], `${JSON.stringify(value)} is neither a port number nor a valid port name (1-15 characters a-z, 0-9, '-', with a letter)`);
    }
    return value;
  }
  return integerInRange(entry, 'targetPort', path, report, PORT_RANGE);
}

/** Kubernetes' IANA_SVC_NAME rule for named container ports. */
export function isContainerPortName(name: string): boolean {
  return name.length <= 15 && DNS_LABEL.test(name) && /[a-z]/.test(name) && !name.includes('--');
}

function rejectDuplicatePorts(ports: ServicePort[], report: Reporter): void {
  const names = new Set<string>();
  const numbers = new Set<string>();
  ports.forEach((port, index) => {
    if (port.name !== '' && names.has(port.name)) report.reject(['spec', 'ports', index, 'name'], `duplicate port name ${JSON.stringify(port.name)}`);
    const number = `${port.port}/${port.protocol}`;
    if (port.port > 0 && numbers.has(number)) report.reject(['spec', 'ports', index, 'port'], `duplicate port ${number}`);
    names.add(port.name);
    numbers.add(number);
  });
}

function readAffinityTimeout(spec: Fields, report: Reporter): number {
  const path = ['spec', 'sessionAffinityConfig'];
  const config = mappingAt(spec, 'sessionAffinityConfig', ['spec'], report);
  const clientIP = mappingAt(config, 'clientIP', path, report);
  const range = { min: 1, max: MAX_AFFINITY_TIMEOUT, what: 'timeout in seconds' };
  return integerInRange(clientIP, 'timeoutSeconds', [...path, 'clientIP'], report, range) ?? DEFAULT_AFFINITY_TIMEOUT;
}

/** PreferClose (and its newer name PreferSameZone) turn on zone preference. */
function readTrafficDistribution(spec: Fields, report: Reporter): boolean {
  const value = enumAt(spec, 'trafficDistribution', ['spec'], report, ['PreferClose', 'PreferSameZone', 'PreferSameNode', 'None'] as const, 'None');
  if (value === 'PreferSameNode') report.warn(['spec', 'trafficDistribution'], 'PreferSameNode is not supported by meshc; no preference is applied');
  return value === 'PreferClose' || value === 'PreferSameZone';
}

function readExternalName(spec: Fields, report: Reporter): string {
  const name = stringAt(spec, 'externalName', ['spec'], report) ?? '';
  if (name === '') report.reject(['spec', 'externalName'], 'is required for an ExternalName Service');
  else if (name.length > 253 || !DNS_NAME.test(name)) report.reject(['spec', 'externalName'], `${JSON.stringify(name)} is not a valid DNS name`);
  return name;
}

/** The annotation is not checked by the API server: a bad value is reported and random is used. */
function readAlgorithm(annotations: Record<string, string>, report: Reporter): Algorithm {
  const value = annotations[ALGORITHM_ANNOTATION];
  if (value === undefined) return 'random';
  if ((ALGORITHMS as readonly string[]).includes(value)) return value as Algorithm;
  report.error(['metadata', 'annotations', ALGORITHM_ANNOTATION], `${JSON.stringify(value)} is not one of ${ALGORITHMS.join(', ')}; using random`);
  return 'random';
}

/**
 * Gives every Service that needs one a ClusterIP of each family it wants (wantedFamilies) from
 * `cidrs` (an IPv4 and an IPv6 block), derived from a hash of its namespace/name. Addresses
 * written in manifests are reserved first. Services are taken in namespace/name order, so the
 * result does not depend on document order; a manifest address that an earlier Service already
 * has is an error, and that later Service is dropped.
 */
export function assignClusterIPs(services: Map<string, WithReporter<Service>>, cidrs: readonly Cidr[]): void {
  const allocators = new Map(cidrs.map((cidr) => [cidr.family, new AddressAllocator(cidr)]));
  const sorted = [...services.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const owners = new Map<string, string>();
  for (const [key, { value: service, report }] of sorted) {
    const taken = service.clusterIPs.find((ip) => owners.has(ip));
    if (taken !== undefined) {
      report.error(['spec', 'clusterIP'], `${taken} is already the ClusterIP of Service ${owners.get(taken)}; this Service is ignored`);
      services.delete(key);
      continue;
    }
    for (const ip of service.clusterIPs) {
      owners.set(ip, key);
      const address = parseAddress(ip);
      const allocator = address && allocators.get(address.family);
      if (address && allocator && cidrContains(allocator.cidr, address)) allocator.reserve(address.value);
    }
  }
  for (const [key, { value: service, report }] of sorted) {
    if (!services.has(key) || service.type === 'ExternalName' || service.headless) continue;
    for (const family of wantedFamilies(service).slice(service.clusterIPs.length)) {
      const ip = allocators.get(family)?.allocate(key);
      if (ip) {
        service.clusterIPs.push(ip);
        continue;
      }
      const why = allocators.has(family) ? `no free address left in the IPv${family} service CIDR` : `no IPv${family} service CIDR`;
      if (service.clusterIPs.length === 0) {
        report.error(['spec', 'clusterIP'], `${why}; this Service is ignored`);
        services.delete(key);
      } else {
        report.warn(['spec', 'ipFamilies'], `${why}: the Service gets no IPv${family} ClusterIP`);
      }
      break;
    }
  }
}
