// The part of a live cluster's model that network policy reads: every Pod (labels, addresses,
// named ports: the identities) and the NetworkPolicies and CiliumNetworkPolicies. It is read with
// the model's own readers, so a policy from the API server becomes the same NetworkPolicy as the
// same object in a manifest file, and the agent compiles it through the same model → tables path.
//
// It is kept apart from buildModel on purpose: Pods in buildModel's input would also give
// endpoints to Services without EndpointSlices, which a live cluster leaves to its EndpointSlice
// controller. Each object is read once per version it arrives in (a cache keyed by the cached
// document), so a batch costs a walk over the documents, not a re-read of every Pod; a bad object
// is a diagnostic of its own and is left out alone.
import type { ManifestDoc } from '../model/manifest-doc.ts';
import { collectObjects, type KubeObject } from '../model/objects.ts';
import { normalizePod, placeOnNode } from '../model/pod.ts';
import { readNetworkPolicies } from '../model/netpol.ts';
import type { NetworkPolicy } from '../model/netpol-types.ts';
import type { Diagnostic, Model, Node, PodInfo } from '../model/types.ts';

export type NetworkKind = 'Pod' | 'NetworkPolicy' | 'CiliumNetworkPolicy';

interface Read<T> {
  value?: T;
  diagnostics: Diagnostic[];
}

export class NetworkModel {
  private readonly pods = new WeakMap<ManifestDoc, Read<PodInfo>>();
  private readonly policies = new WeakMap<ManifestDoc, Read<NetworkPolicy>>();

  constructor(private readonly docs: (kind: NetworkKind) => Iterable<ManifestDoc>) {}

  /** Puts the pods and policies of the cache into `model` (built without them); their diagnostics are added. */
  fill(model: Model): Model {
    const diagnostics: Diagnostic[] = [];
    const pods: [string, PodInfo][] = [];
    for (const doc of this.docs('Pod')) {
      const read = readOnce(this.pods, doc, (object) => normalizePod(object, model.nodes));
      diagnostics.push(...read.diagnostics);
      if (!read.value) continue;
      replaceOnNode(read.value, model.nodes);
      pods.push([`${read.value.meta.namespace}/${read.value.meta.name}`, read.value]);
    }
    const policies: NetworkPolicy[] = [];
    for (const kind of ['NetworkPolicy', 'CiliumNetworkPolicy'] as const) {
      for (const doc of this.docs(kind)) {
        const read = readOnce(this.policies, doc, (object) => readNetworkPolicies(kind === 'NetworkPolicy' ? [object] : [], kind === 'NetworkPolicy' ? [] : [object])[0]);
        diagnostics.push(...read.diagnostics);
        if (read.value) policies.push(read.value);
      }
    }
    // The order buildModel gives both (src/model/build.ts readPods, src/model/netpol.ts).
    pods.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = (p: NetworkPolicy) => `${p.kind}/${p.meta.namespace}/${p.meta.name}`;
    policies.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    model.pods = new Map(pods);
    model.networkPolicies = policies;
    if (diagnostics.length > 0) model.diagnostics = [...model.diagnostics, ...diagnostics];
    return model;
  }
}

/** The object of `doc` read by `read`, once per document (a new version of an object is a new document). */
function readOnce<T>(cache: WeakMap<ManifestDoc, Read<T>>, doc: ManifestDoc, read: (object: KubeObject) => T | undefined): Read<T> {
  const cached = cache.get(doc);
  if (cached) return cached;
  const diagnostics: Diagnostic[] = [];
  const [object] = collectObjects([doc], diagnostics);
  const result: Read<T> = { diagnostics };
  const value = object ? read(object) : undefined;
  if (value !== undefined) result.value = value;
  cache.set(doc, result);
  return result;
}

/** A pod's zone follows its Node's, which can change without the Pod changing. */
function replaceOnNode(pod: PodInfo, nodes: ReadonlyMap<string, Node>): void {
  if (!pod.nodeName) return;
  delete pod.zone;
  placeOnNode(pod, pod.nodeName, nodes);
}
