// The policy's layouts, maps and constants as the host uses them: generated from assembly/ into
// src/generated/ (never restated here), plus what only the host decides: the order in which the
// table compiler writes new rows, protocol numbers by Kubernetes protocol name, reason names.
import type { Protocol } from '../model/types.ts';
import { IPPROTO_TCP, IPPROTO_UDP } from '../generated/constants.ts';
import { REASONS } from '../generated/reasons.ts';
import type { MapName } from '../generated/layouts.ts';

export * from '../generated/layouts.ts';
export * from '../generated/constants.ts';
export { REASONS, type Reason } from '../generated/reasons.ts';

/** The maps the table compiler writes, in the order new rows must be written. */
export const TABLE_WRITE_ORDER: MapName[] = ['mc_backends', 'mc_slots', 'mc_members', 'mc_maglev', 'mc_groups', 'mc_services'];

/** IP protocol numbers by Kubernetes protocol. SCTP has no hook: its frontends never match. */
export const IPPROTO: Record<Protocol, number> = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: 132 };

/** Kubernetes protocol names by IP protocol number. */
export const PROTOCOL_NAMES: ReadonlyMap<number, Protocol> = new Map(
  (Object.entries(IPPROTO) as [Protocol, number][]).map(([name, n]) => [n, name]),
);

/** A frontend's or event's protocol as inspect and monitor print it. */
export function protocolName(proto: number): string {
  return PROTOCOL_NAMES.get(proto) ?? `proto-${proto}`;
}

/** A refusal reason's name: the policy's and the glue's, or `reason-N` for a user policy's own. */
export function reasonName(reason: number): string {
  return REASONS[reason] ?? `reason-${reason}`;
}
