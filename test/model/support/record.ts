// Which fields of a manifest the model reads: each document's object is wrapped in a Proxy that
// records every property read, as `Kind: path` with list indexes as `[]` and the keys of the
// user's maps (labels, annotations, selectors) as `*`. Reads made to hash a whole pod template
// (the names of made-up pods, src/model/hash.ts) are not field uses and are not recorded.
import { parseManifests } from '../../../src/model/parse.ts';
import { buildModel } from '../../../src/model/build.ts';
import type { ManifestDoc } from '../../../src/model/manifest-doc.ts';

const WORKLOAD_MAPS = ['spec.selector.matchLabels', 'spec.template.metadata.labels', 'spec.template.metadata.annotations', 'spec.template.spec.nodeSelector'];
/** Per kind, the fields whose keys are the user's. */
const USER_MAPS: Record<string, string[]> = {
  Service: ['spec.selector'],
  Deployment: WORKLOAD_MAPS,
  StatefulSet: WORKLOAD_MAPS,
  ReplicaSet: WORKLOAD_MAPS,
  Pod: ['spec.nodeSelector'],
  NetworkPolicy: [
    'spec.podSelector.matchLabels',
    'spec.ingress[].from[].podSelector.matchLabels',
    'spec.ingress[].from[].namespaceSelector.matchLabels',
    'spec.egress[].to[].podSelector.matchLabels',
    'spec.egress[].to[].namespaceSelector.matchLabels',
  ],
  CiliumNetworkPolicy: ['spec.endpointSelector.matchLabels', 'spec.ingress[].fromEndpoints[].matchLabels', 'spec.egress[].toEndpoints[].matchLabels'],
};

function formatPath(path: readonly string[]): string {
  return path.map((p, i) => (p === '[]' ? '[]' : i === 0 ? p : `.${p}`)).join('');
}

function isUserMap(kind: string, path: readonly string[]): boolean {
  const text = formatPath(path);
  return text === 'metadata.labels' || text === 'metadata.annotations' || (USER_MAPS[kind] ?? []).includes(text);
}

function record(value: unknown, path: string[], kind: string, seen: Set<string>): unknown {
  if (value === null || typeof value !== 'object') return value;
  return new Proxy(value as object, {
    get(target, key, receiver) {
      const child = Reflect.get(target, key, receiver);
      if (typeof key === 'symbol' || !Object.hasOwn(target, key)) return child;
      if (Array.isArray(target) && !/^\d+$/.test(key)) return child;
      if (new Error().stack?.includes('canonicalJson')) return child;
      const next = [...path, Array.isArray(target) ? '[]' : isUserMap(kind, path) ? '*' : key];
      seen.add(`${kind}: ${formatPath(next)}`);
      return record(child, next, kind, seen);
    },
  });
}

/** The `Kind: path` of every field buildModel reads from `texts`. */
export function fieldsRead(texts: readonly { text: string; file: string }[]): Set<string> {
  const seen = new Set<string>();
  const docs: ManifestDoc[] = texts.flatMap(({ text, file }) =>
    parseManifests(text, file).map((doc) => {
      if (doc.object === undefined) return doc;
      const kind = (doc.object as { kind?: unknown }).kind;
      return { ...doc, object: record(doc.object, [], typeof kind === 'string' ? kind : '?', seen) };
    }),
  );
  buildModel(docs);
  return seen;
}
