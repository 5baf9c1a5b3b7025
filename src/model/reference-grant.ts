// ReferenceGrants (gateway.networking.k8s.io v1 and v1beta1): who may refer to what across
// namespaces. They govern Gateway-bound routes only: a mesh route (Service parent) may send
// traffic to any namespace without one (GEP-1426, "Namespace boundaries"; semantics.md fact 32).

import type { BackendRef, ReferenceGrant } from './types.ts';
import { GATEWAY_GROUP, type KubeObject } from './objects.ts';
import type { FieldPath } from './manifest-doc.ts';
import type { Reporter } from './diagnostics.ts';
import { mappingAt, mappingsAt, stringAt, type Fields } from './fields.ts';

/** The CRD's bounds: 1 to 16 entries in `from` and in `to`. */
const MAX_ENTRIES = 16;

/** The grant from a collected object, or undefined when the API server would refuse it. */
export function readReferenceGrant(object: KubeObject): ReferenceGrant | undefined {
  const { body, meta, report } = object;
  const spec = mappingAt(body, 'spec', [], report);
  const entries = (key: 'from' | 'to') => {
    const items = mappingsAt(spec, key, ['spec'], report);
    const count = Array.isArray(spec[key]) ? spec[key].length : 0;
    if (count === 0) report.reject(['spec', key], 'must list at least one entry');
    if (count > MAX_ENTRIES) report.reject(['spec', key], `has ${count} entries, more than ${MAX_ENTRIES}`);
    return items;
  };
  const grant: ReferenceGrant = {
    namespace: meta.namespace,
    name: meta.name,
    from: entries('from').map(([entry, i]) => {
      const at = ['spec', 'from', i];
      return { group: required(entry, 'group', at, report, true), kind: required(entry, 'kind', at, report), namespace: required(entry, 'namespace', at, report) };
    }),
    to: entries('to').map(([entry, i]) => {
      const at = ['spec', 'to', i];
      const to: ReferenceGrant['to'][number] = { group: required(entry, 'group', at, report, true), kind: required(entry, 'kind', at, report) };
      const name = stringAt(entry, 'name', at, report);
      if (name) to.name = name;
      return to;
    }),
  };
  return report.rejected ? undefined : grant;
}

/** A required string; `group` may be "" (the core group) but must be written. */
function required(entry: Fields, key: string, at: FieldPath, report: Reporter, emptyAllowed = false): string {
  const value = stringAt(entry, key, at, report);
  if (value === undefined || (!emptyAllowed && value === '')) report.reject([...at, key], 'is required');
  return value ?? '';
}

/**
 * True when a grant in the backendRef's namespace lets HTTPRoutes of `fromNamespace` refer to
 * its Service: every field must match (from group, kind and namespace; to group "", kind
 * Service, and to name when set). References within one namespace need no grant.
 */
export function referenceGrantAllows(grants: readonly ReferenceGrant[], fromNamespace: string, ref: BackendRef): boolean {
  if (ref.namespace === fromNamespace) return true;
  return grants.some((grant) =>
    grant.namespace === ref.namespace &&
    grant.from.some((f) => f.group === GATEWAY_GROUP && f.kind === 'HTTPRoute' && f.namespace === fromNamespace) &&
    grant.to.some((t) => t.group === ref.group && t.kind === ref.kind && (t.name === undefined || t.name === ref.name)),
  );
}
