// Pod objects, and the pod facts shared with synthesized pods: container ports and selectors.

import type { Node, PodInfo, Protocol } from './types.ts';
import type { FieldPath } from './manifest-doc.ts';
import type { Reporter } from './diagnostics.ts';
import type { KubeObject } from './objects.ts';
import { PORT_RANGE, PROTOCOLS, isContainerPortName } from './service.ts';
import { enumAt, integerInRange, mappingAt, mappingsAt, stringAt, type Fields } from './fields.ts';
import { formatAddress, parseAddress, specialAddressProblem } from './ip.ts';

export type NamedPorts = PodInfo['namedPorts'];

/** Pod phases whose pods never serve again: the EndpointSlice controller leaves them out. */
export const TERMINAL_PHASES: ReadonlySet<string> = new Set(['Succeeded', 'Failed']);

export function normalizePod(object: KubeObject, nodes: ReadonlyMap<string, Node>): PodInfo | undefined {
  const { body, meta, report } = object;
  const spec = mappingAt(body, 'spec', [], report);
  const status = mappingAt(body, 'status', [], report);
  const namedPorts = readNamedPorts(spec, ['spec'], report);
  const ips = readPodIPs(status, report);
  const pod: PodInfo = {
    meta,
    ips,
    ready: readReadyCondition(status, report) ?? ips.length > 0,
    terminating: typeof mappingAt(body, 'metadata', [], report)['deletionTimestamp'] === 'string',
    namedPorts,
    synthesized: false,
  };
  if (ips[0] !== undefined) pod.ip = ips[0];
  const nodeName = stringAt(spec, 'nodeName', ['spec'], report);
  if (nodeName) placeOnNode(pod, nodeName, nodes);
  const phase = stringAt(status, 'phase', ['status'], report);
  if (phase) pod.phase = phase;
  pod.serviceAccount = stringAt(spec, 'serviceAccountName', ['spec'], report) ?? 'default';
  if (spec['hostNetwork'] === true) pod.hostNetwork = true;
  return report.rejected ? undefined : pod;
}

export function placeOnNode(pod: PodInfo, nodeName: string, nodes: ReadonlyMap<string, Node>): void {
  pod.nodeName = nodeName;
  const zone = nodes.get(nodeName)?.zone;
  if (zone) pod.zone = zone;
}

/** status.podIPs (or status.podIP): a bad address is reported and left out; the pod stays. */
function readPodIPs(status: Fields, report: Reporter): string[] {
  const listed = mappingsAt(status, 'podIPs', ['status'], report).map(([entry, index]) => ({
    text: entry['ip'],
    path: ['status', 'podIPs', index, 'ip'] as FieldPath,
  }));
  const single = status['podIP'];
  const candidates = listed.length > 0 ? listed : single === undefined || single === null ? [] : [{ text: single, path: ['status', 'podIP'] as FieldPath }];
  const ips: string[] = [];
  for (const { text, path } of candidates) {
    const address = typeof text === 'string' ? parseAddress(text) : undefined;
    const problem = address && specialAddressProblem(address);
    if (!address) report.error(path, `${JSON.stringify(text)} is not a valid IP address; the pod gets no endpoint`);
    else if (problem) report.error(path, `${JSON.stringify(text)} ${problem}: not a valid endpoint; the pod gets no endpoint`);
    else ips.push(formatAddress(address));
  }
  return ips;
}

/** The Ready condition, or undefined when the pod has none. */
function readReadyCondition(status: Fields, report: Reporter): boolean | undefined {
  for (const [condition, index] of mappingsAt(status, 'conditions', ['status'], report)) {
    if (condition['type'] !== 'Ready') continue;
    const value = enumAt(condition, 'status', ['status', 'conditions', index], report, ['True', 'False', 'Unknown'] as const, 'Unknown');
    return value === 'True';
  }
  return undefined;
}

/** Named container ports of a pod spec (`spec` of a Pod, `spec.template.spec` of a workload). */
export function readNamedPorts(podSpec: Fields, path: FieldPath, report: Reporter): NamedPorts {
  const named: NamedPorts = {};
  for (const [container, c] of mappingsAt(podSpec, 'containers', path, report)) {
    const containerPath = [...path, 'containers', c];
    for (const [entry, p] of mappingsAt(container, 'ports', containerPath, report)) {
      const portPath = [...containerPath, 'ports', p];
      if (entry['containerPort'] === undefined) report.reject([...portPath, 'containerPort'], 'is required');
      const port = integerInRange(entry, 'containerPort', portPath, report, PORT_RANGE);
      const protocol: Protocol = enumAt(entry, 'protocol', portPath, report, PROTOCOLS, 'TCP');
      const name = stringAt(entry, 'name', portPath, report);
      if (name === undefined || port === undefined) continue;
      if (!isContainerPortName(name)) report.reject([...portPath, 'name'], `${JSON.stringify(name)} is not a valid port name (1-15 characters a-z, 0-9, '-', with a letter)`);
      else if (named[name]) report.reject([...portPath, 'name'], `duplicate port name ${JSON.stringify(name)} in the pod`);
      else named[name] = { port, protocol };
    }
  }
  return named;
}

export function matchesSelector(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/**
 * Pods by namespace and label, so that a selector looks only at the pods carrying its first label
 * instead of every pod of the model (Services and workloads times pods would be quadratic).
 */
export class PodIndex {
  readonly #byLabel = new Map<string, PodInfo[]>();

  constructor(pods: readonly PodInfo[]) {
    for (const pod of pods) {
      for (const [key, value] of Object.entries(pod.meta.labels)) {
        const id = labelId(pod.meta.namespace, key, value);
        const list = this.#byLabel.get(id);
        if (list) list.push(pod);
        else this.#byLabel.set(id, [pod]);
      }
    }
  }

  /** Pods of `namespace` that match a non-empty `selector`, in the order they were given. */
  selected(namespace: string, selector: Record<string, string>): PodInfo[] {
    const entries = Object.entries(selector);
    if (entries.length === 0) return [];
    const [key, value] = entries[0]!;
    const candidates = this.#byLabel.get(labelId(namespace, key, value)) ?? [];
    return entries.length === 1 ? candidates : candidates.filter((pod) => matchesSelector(pod.meta.labels, selector));
  }
}

function labelId(namespace: string, key: string, value: string): string {
  return `${namespace}\u0000${key}\u0000${value}`;
}
