// The endpoints of each Service port. Sources, in order: the Service's EndpointSlices; else, for a
// Service with a selector, the pods it selects (real pods, and pods synthesized for workloads that
// have none). Named target ports are resolved per endpoint.

import { endpointKey, type Endpoint, type PodInfo, type Service, type ServicePort } from './types.ts';
import type { Reporter } from './diagnostics.ts';
import type { EndpointSliceInfo } from './endpointslice.ts';
import { TERMINAL_PHASES, type PodIndex } from './pod.ts';
import { parseAddress } from './ip.ts';

export interface EndpointSources {
  /** Slices by `namespace/serviceName`, sorted by slice name. */
  slicesByService: ReadonlyMap<string, readonly EndpointSliceInfo[]>;
  /** Real and synthesized pods, indexed from a list sorted by namespace/name. */
  pods: PodIndex;
}

/** Endpoints of every port of `service`, keyed by endpointKey. Problems go to `report`. */
export function serviceEndpoints(service: Service, sources: EndpointSources, report: Reporter): Map<string, Endpoint[]> {
  const result = new Map<string, Endpoint[]>();
  const balanced = service.type !== 'ExternalName' && !service.headless;
  const slices = sources.slicesByService.get(`${service.meta.namespace}/${service.meta.name}`) ?? [];
  const pods = balanced && slices.length === 0 && service.selector ? selectedPods(service, sources.pods) : [];
  service.ports.forEach((port, index) => {
    let endpoints: Endpoint[] = [];
    if (balanced && slices.length > 0) endpoints = endpointsFromSlices(port, index, slices, report);
    else if (balanced) endpoints = endpointsFromPods(service, port, index, pods, report);
    result.set(endpointKey(service, port), endpoints);
  });
  return result;
}

function endpointsFromSlices(port: ServicePort, index: number, slices: readonly EndpointSliceInfo[], report: Reporter): Endpoint[] {
  const endpoints: Endpoint[] = [];
  const seen = new Set<string>();
  let portFound = false;
  for (const slice of slices) {
    const slicePort = slice.ports.find((candidate) => candidate.name === port.name && candidate.protocol === port.protocol);
    if (!slicePort) continue;
    portFound = true;
    for (const sliceEndpoint of slice.endpoints) {
      const id = `${sliceEndpoint.ip}/${slicePort.port}`;
      if (seen.has(id)) continue;
      seen.add(id);
      endpoints.push({ ...sliceEndpoint, port: slicePort.port });
    }
  }
  if (!portFound) {
    const which = port.name ? `a ${port.protocol} port named ${JSON.stringify(port.name)}` : `an unnamed ${port.protocol} port`;
    report.warn(['spec', 'ports', index], `no EndpointSlice of this Service has ${which}; the port has no endpoints`);
  }
  return endpoints;
}

/** Pods in the Service's namespace that match its selector, have an address and are not finished. */
function selectedPods(service: Service, pods: PodIndex): PodInfo[] {
  return pods
    .selected(service.meta.namespace, service.selector ?? {})
    .filter((pod) => pod.ips.length > 0 && !TERMINAL_PHASES.has(pod.phase ?? ''));
}

function endpointsFromPods(service: Service, port: ServicePort, index: number, pods: readonly PodInfo[], report: Reporter): Endpoint[] {
  const endpoints = pods.flatMap((pod) => {
    const targetPort = resolveTargetPort(port, pod);
    return targetPort === undefined ? [] : podAddressesFor(service, pod).map((ip) => podEndpoint(pod, ip, targetPort));
  });
  if (typeof port.targetPort === 'string' && pods.length > 0 && endpoints.length === 0) {
    report.error(['spec', 'ports', index, 'targetPort'], `${JSON.stringify(port.targetPort)} is not a port name of any endpoint`);
  }
  if (index === 0) reportMissingFamilies(service, endpoints, pods, report);
  return endpoints;
}

/** A dual-stack Service whose pods have no address of one of its families: that ClusterIP refuses every connection. */
function reportMissingFamilies(service: Service, endpoints: readonly Endpoint[], pods: readonly PodInfo[], report: Reporter): void {
  if (service.clusterIPs.length < 2 || pods.length === 0) return;
  for (const ip of service.clusterIPs) {
    const family = parseAddress(ip)?.family;
    if (family && !endpoints.some((e) => e.family === family)) {
      report.warn(['spec', 'ipFamilies'], `no selected pod has an IPv${family} address, so connections to the ClusterIP ${ip} are refused`);
    }
  }
}

/** A numbered targetPort as is; a named one from the pod's container ports of the same protocol. */
function resolveTargetPort(port: ServicePort, pod: PodInfo): number | undefined {
  if (typeof port.targetPort === 'number') return port.targetPort;
  const named = pod.namedPorts[port.targetPort];
  return named && named.protocol === port.protocol ? named.port : undefined;
}

/** Ready means serving and not terminating, as the EndpointSlice controller sets it. */
function podEndpoint(pod: PodInfo, ip: { text: string; family: 4 | 6 }, port: number): Endpoint {
  const endpoint: Endpoint = {
    ip: ip.text,
    family: ip.family,
    port,
    ready: pod.ready && !pod.terminating,
    serving: pod.ready,
    terminating: pod.terminating,
    pod: { namespace: pod.meta.namespace, name: pod.meta.name },
  };
  if (pod.nodeName) endpoint.nodeName = pod.nodeName;
  if (pod.zone) endpoint.zone = pod.zone;
  return endpoint;
}

/**
 * The pod's address of each of the Service's families, as the EndpointSlice controller makes one
 * slice per family; a single-stack Service whose family the pod lacks gets the pod's primary address.
 */
function podAddressesFor(service: Service, pod: PodInfo): { text: string; family: 4 | 6 }[] {
  const addresses = pod.ips.map((text) => ({ text, family: parseAddress(text)?.family ?? 4 }));
  const families = service.clusterIPs.map((ip) => parseAddress(ip)?.family);
  const matching = families.flatMap((family) => addresses.filter((address) => address.family === family).slice(0, 1));
  if (matching.length > 0 || families.length > 1) return matching;
  return addresses.slice(0, 1);
}
