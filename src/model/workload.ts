// Deployments, StatefulSets and ReplicaSets, and the pods a simulation makes up for them when the
// manifests hold no real pods: deterministic names, addresses and node placement.

import type { Node, PodInfo } from './types.ts';
import type { KubeObject, KnownKind } from './objects.ts';
import type { Reporter } from './diagnostics.ts';
import { SKIP_ANNOTATION } from './objects.ts';
import { readNamedPorts, matchesSelector, placeOnNode, PodIndex, type NamedPorts } from './pod.ts';
import { integerInRange, mappingAt, stringMapAt, isFields } from './fields.ts';
import { canonicalJson, hash32, hexHash } from './hash.ts';
import { AddressAllocator } from './address-allocator.ts';
import { formatCidr, parseAddress, type Cidr } from './ip.ts';

export type WorkloadKind = Extract<KnownKind, 'Deployment' | 'StatefulSet' | 'ReplicaSet'>;

export interface Workload {
  kind: WorkloadKind;
  meta: KubeObject['meta'];
  replicas: number;
  selector: Record<string, string>;
  podLabels: Record<string, string>;
  podAnnotations: Record<string, string>;
  namedPorts: NamedPorts;
  /** Hash of the pod template, as Deployments use in their ReplicaSet names. */
  templateHash: string;
  report: Reporter;
}

export function isWorkloadKind(kind: KnownKind): kind is WorkloadKind {
  return kind === 'Deployment' || kind === 'StatefulSet' || kind === 'ReplicaSet';
}

export function normalizeWorkload(object: KubeObject & { kind: WorkloadKind }): Workload | undefined {
  const { body, meta, report } = object;
  const spec = mappingAt(body, 'spec', [], report);
  const selectorSpec = mappingAt(spec, 'selector', ['spec'], report);
  const selector = stringMapAt(selectorSpec, 'matchLabels', ['spec', 'selector'], report);
  if (selectorSpec['matchExpressions'] !== undefined) {
    report.warn(['spec', 'selector', 'matchExpressions'], 'matchExpressions are not evaluated by meshc; only matchLabels is used');
  }
  const template = mappingAt(spec, 'template', ['spec'], report);
  const templateMeta = mappingAt(template, 'metadata', ['spec', 'template'], report);
  const podLabels = stringMapAt(templateMeta, 'labels', ['spec', 'template', 'metadata'], report);
  if (Object.keys(selector).length === 0) report.reject(['spec', 'selector'], 'is required (matchLabels)');
  else if (!matchesSelector(podLabels, selector)) report.reject(['spec', 'template', 'metadata', 'labels'], 'do not match spec.selector.matchLabels');
  const workload: Workload = {
    kind: object.kind,
    meta,
    replicas: integerInRange(spec, 'replicas', ['spec'], report, { min: 0, max: 2_147_483_647, what: 'replica count' }) ?? 1,
    selector,
    podLabels,
    podAnnotations: stringMapAt(templateMeta, 'annotations', ['spec', 'template', 'metadata'], report),
    namedPorts: readNamedPorts(mappingAt(template, 'spec', ['spec', 'template'], report), ['spec', 'template', 'spec'], report),
    templateHash: hexHash(canonicalJson(isFields(template) ? template : {}), 10),
    report,
  };
  return report.rejected ? undefined : workload;
}

export interface SynthesisOptions {
  podCIDR: Cidr;
  /** Set when IPv6 or dual-stack Services need them: the pods get an IPv6 address from it too. */
  podCIDRv6?: Cidr;
  /** Nodes to spread the pods over; pods have no node when absent. */
  spreadOver?: readonly Node[];
}

/** Made-up pods per workload, and in all: more than any real application's shape needs. */
export const MAX_SYNTHESIZED_PER_WORKLOAD = 1000;
export const MAX_SYNTHESIZED_PODS = 10_000;

/**
 * Pods for the workloads that no real pod belongs to (no Pod in the namespace matches the
 * workload's selector). Addresses come from the pod CIDR by a hash of namespace/name, avoiding
 * real pods' addresses; pods are allocated in namespace/name order, so document order does not
 * matter. The count is capped (per workload and in all, in namespace/name order of the
 * workloads), with a warning on each workload that gets fewer pods than its replicas.
 */
export function synthesizePods(workloads: readonly Workload[], realPods: readonly PodInfo[], options: SynthesisOptions): PodInfo[] {
  const real = new PodIndex(realPods);
  const unowned = workloads
    .filter((workload) => real.selected(workload.meta.namespace, workload.selector).length === 0)
    .sort((a, b) => compareText(workloadKey(a), workloadKey(b)));
  let budget = MAX_SYNTHESIZED_PODS;
  const owned: { pod: PodInfo; workload: Workload }[] = [];
  for (const workload of unowned) {
    const count = Math.min(workload.replicas, MAX_SYNTHESIZED_PER_WORKLOAD, budget);
    if (count < workload.replicas) {
      workload.report.warn(
        ['spec', 'replicas'],
        `${workload.replicas} replicas: a simulation makes up at most ${MAX_SYNTHESIZED_PER_WORKLOAD} pods per workload and ${MAX_SYNTHESIZED_PODS} in all; this one gets ${count}`,
      );
    }
    budget -= count;
    for (const pod of podsOfWorkload(workload, count, options.spreadOver ?? [])) owned.push({ pod, workload });
  }
  owned.sort((a, b) => compareText(podKey(a.pod), podKey(b.pod)));
  const cidrs = options.podCIDRv6 ? [options.podCIDR, options.podCIDRv6] : [options.podCIDR];
  const allocators = cidrs.map((cidr) => podAddressAllocator(realPods, cidr));
  const short = new Set<Workload>();
  for (const { pod, workload } of owned) {
    for (const allocator of allocators) {
      const ip = allocator.allocate(podKey(pod));
      if (ip) {
        pod.ips.push(ip);
        pod.ip ??= ip;
      } else if (!short.has(workload)) {
        short.add(workload);
        workload.report.error(['spec', 'replicas'], `no free address left in the pod CIDR ${formatCidr(allocator.cidr)} for pod ${pod.meta.name}; it and the workload's pods after it get no endpoint`);
      }
    }
  }
  return owned.map(({ pod }) => pod);
}

function podsOfWorkload(workload: Workload, count: number, nodes: readonly Node[]): PodInfo[] {
  const names = podNames(workload, count);
  const firstNode = hash32(`${workload.meta.namespace}/${workload.meta.name}`) % Math.max(nodes.length, 1);
  return names.map((name, index) => {
    const pod: PodInfo = {
      meta: {
        namespace: workload.meta.namespace,
        name,
        labels: podLabelsOf(workload),
        annotations: { ...workload.podAnnotations },
        source: workload.meta.source,
      },
      ips: [],
      ready: true,
      terminating: false,
      namedPorts: workload.namedPorts,
      synthesized: true,
      owner: `${workload.kind}/${workload.meta.name}`,
    };
    if (workload.podAnnotations[SKIP_ANNOTATION] === 'true') pod.meta.skip = true;
    const node = nodes[(firstNode + index) % Math.max(nodes.length, 1)];
    if (node) placeOnNode(pod, node.name, new Map([[node.name, node]]));
    return pod;
  });
}

function podLabelsOf(workload: Workload): Record<string, string> {
  if (workload.kind !== 'Deployment') return { ...workload.podLabels };
  return { ...workload.podLabels, 'pod-template-hash': workload.templateHash };
}

/** The consonants and digits Kubernetes uses for generated name suffixes. */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * StatefulSet: `<name>-0` … `<name>-<n-1>`. ReplicaSet: `<name>-<5 chars>`. Deployment:
 * `<name>-<10 hex of the template hash>-<5 chars>`, the shape of a real Deployment's pods.
 */
export function podNames(workload: Workload, count = workload.replicas): string[] {
  const indexes = Array.from({ length: count }, (_, i) => i);
  if (workload.kind === 'StatefulSet') return indexes.map((i) => `${workload.meta.name}-${i}`);
  const prefix = workload.kind === 'Deployment' ? `${workload.meta.name}-${workload.templateHash}` : workload.meta.name;
  const used = new Set<string>();
  return indexes.map((i) => {
    let name: string;
    for (let attempt = 0; ; attempt++) {
      name = `${prefix}-${suffix(`${workload.meta.namespace}/${prefix}/${i}/${attempt}`)}`;
      if (!used.has(name)) break;
    }
    used.add(name);
    return name;
  });
}

function suffix(seed: string): string {
  let value = hash32(seed);
  let text = '';
  for (let i = 0; i < 5; i++) {
    text += SUFFIX_ALPHABET[value % SUFFIX_ALPHABET.length];
    value = Math.floor(value / SUFFIX_ALPHABET.length);
  }
  return text;
}

function podAddressAllocator(realPods: readonly PodInfo[], cidr: Cidr): AddressAllocator {
  const allocator = new AddressAllocator(cidr);
  for (const pod of realPods) {
    for (const ip of pod.ips) {
      const address = parseAddress(ip);
      if (address && address.family === cidr.family) allocator.reserve(address.value);
    }
  }
  return allocator;
}

function workloadKey(workload: Workload): string {
  return `${workload.meta.namespace}/${workload.meta.name}/${workload.kind}`;
}

function podKey(pod: PodInfo): string {
  return `${pod.meta.namespace}/${pod.meta.name}`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
