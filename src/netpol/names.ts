// Names of network policy ids and identities, as mc_np_names holds them (`kind:id` -> text) and
// meshc monitor prints them.
import { MC_NP_NAME } from '../generated/glue.ts';
import type { NetpolTables, Identity } from './tables.ts';

/** mc_np_names kinds (bpf/meshc_netpol.h MC_NP_NAME_*, generated). */
export const NP_NAME = MC_NP_NAME;

export function identityName(identity: Identity): string {
  if (identity.kind === 'cidr') return identity.cidr;
  const labels = Object.entries(identity.labels).map(([k, v]) => `${k}=${v}`).join(',');
  return `${identity.namespace} ${labels || '(no labels)'} (${identity.pods.length} pod${identity.pods.length === 1 ? '' : 's'}: ${identity.pods[0]}${identity.pods.length > 1 ? ', ...' : ''})`;
}

export function netpolNames(tables: NetpolTables): Map<string, string> {
  const names = new Map<string, string>();
  for (const p of tables.policies) names.set(`${NP_NAME.policy}:${p.id}`, p.name);
  for (const identity of tables.identities.values()) names.set(`${NP_NAME.identity}:${identity.id}`, identityName(identity));
  return names;
}
