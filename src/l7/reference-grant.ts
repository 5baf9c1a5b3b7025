// Reads ReferenceGrant objects (gateway.networking.k8s.io v1 / v1beta1) for backendRef checks in
// the Gateway profile. The mesh profile does not need them (semantics.md fact 32).

import type { ReferenceGrant } from './select.ts';

const API_VERSIONS = ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1', 'gateway.networking.k8s.io/v1alpha2'];

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A ReferenceGrant from a parsed object; throws naming the object and field when it is malformed. */
export function readReferenceGrant(obj: unknown): ReferenceGrant {
  if (!isObj(obj)) throw new Error('ReferenceGrant: expected an object');
  const meta = isObj(obj['metadata']) ? obj['metadata'] : {};
  const namespace = typeof meta['namespace'] === 'string' && meta['namespace'] !== '' ? meta['namespace'] : 'default';
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const where = `ReferenceGrant ${namespace}/${name}`;
  if (name === '') throw new Error(`${where}: metadata.name: is required`);
  if (obj['kind'] !== 'ReferenceGrant') throw new Error(`${where}: kind: expected ReferenceGrant, got ${JSON.stringify(obj['kind'])}`);
  if (typeof obj['apiVersion'] !== 'string' || !API_VERSIONS.includes(obj['apiVersion'])) {
    throw new Error(`${where}: apiVersion: ${JSON.stringify(obj['apiVersion'])} is not one of ${API_VERSIONS.join(', ')}`);
  }
  const spec = obj['spec'];
  if (!isObj(spec)) throw new Error(`${where}: spec: is required`);
  const list = (key: 'from' | 'to'): Obj[] => {
    const v = spec[key];
    if (!Array.isArray(v) || v.length === 0) throw new Error(`${where}: spec.${key}: must be a non-empty list`);
    return v.map((item, i) => {
      if (!isObj(item)) throw new Error(`${where}: spec.${key}[${i}]: expected an object`);
      return item;
    });
  };
  const str = (o: Obj, field: string, at: string, required: boolean): string | undefined => {
    const v = o[field];
    if (v === undefined || v === null) {
      if (required) throw new Error(`${where}: ${at}.${field}: is required`);
      return undefined;
    }
    if (typeof v !== 'string') throw new Error(`${where}: ${at}.${field}: expected a string, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    namespace,
    name,
    from: list('from').map((f, i) => ({
      group: str(f, 'group', `spec.from[${i}]`, true)!,
      kind: str(f, 'kind', `spec.from[${i}]`, true)!,
      namespace: str(f, 'namespace', `spec.from[${i}]`, true)!,
    })),
    to: list('to').map((t, i) => {
      const to: ReferenceGrant['to'][number] = {
        group: str(t, 'group', `spec.to[${i}]`, true)!,
        kind: str(t, 'kind', `spec.to[${i}]`, true)!,
      };
      const n = str(t, 'name', `spec.to[${i}]`, false);
      if (n !== undefined && n !== '') to.name = n;
      return to;
    }),
  };
}
