// Policy tests' `expect: denied`: network policy refuses every connection (optionally for a
// reason, egress or ingress, and by a named policy), or, with `denied: false`, none.
import type { SimulateResult } from '../sim/simulate.ts';

export interface DeniedExpectation {
  denied: boolean;
  /** `egress` or `ingress`: the end whose policies refuse. */
  reason?: 'egress' | 'ingress';
  /** The deciding policy, NAME or NAMESPACE/NAME (of either kind). */
  policy?: string;
}

/** Reads `expect.denied`: true, false, or {reason, policy}; returns the problem text for bad input. */
export function readDenied(value: unknown): DeniedExpectation | string {
  if (typeof value === 'boolean') return { denied: value };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be true, false, or a mapping with reason (egress or ingress) and policy';
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => k !== 'reason' && k !== 'policy');
  if (unknown.length > 0) return `unknown key ${unknown[0]} (expected reason, policy)`;
  const out: DeniedExpectation = { denied: true };
  if (fields['reason'] !== undefined) {
    if (fields['reason'] !== 'egress' && fields['reason'] !== 'ingress') return `reason: ${JSON.stringify(fields['reason'])} is not egress or ingress`;
    out.reason = fields['reason'];
  }
  if (fields['policy'] !== undefined) {
    if (typeof fields['policy'] !== 'string' || fields['policy'] === '') return 'policy: must be a policy name (NAME or NAMESPACE/NAME)';
    out.policy = fields['policy'];
  }
  return out;
}

export function checkDenied(result: SimulateResult, expect: DeniedExpectation): string[] {
  const denied = result.networkPolicy?.denied ?? [];
  const count = denied.reduce((sum, d) => sum + d.count, 0);
  const total = result.connections;
  const rows = denied.map((d) => `${d.reason} by ${d.policy} ${d.count}`).join(', ');
  if (!expect.denied) return count > 0 ? [`expected no network policy denial, got ${count} of ${total} denied (${rows})`] : [];
  if (!result.networkPolicy) return ['expected network policy to deny every connection, but no NetworkPolicy or CiliumNetworkPolicy is loaded'];
  const failures: string[] = [];
  if (count < total) failures.push(`expected every connection to be denied by network policy, but ${total - count} of ${total} were not${rows ? ` (denied: ${rows})` : ''}`);
  if (expect.reason && denied.some((d) => d.reason !== expect.reason)) failures.push(`expected denials for reason ${expect.reason}, got ${rows}`);
  if (expect.policy) {
    const wanted = expect.policy;
    const matches = (name: string) => name.endsWith(`/${wanted}`) || name.endsWith(` ${wanted}`);
    if (denied.some((d) => !matches(d.policy))) failures.push(`expected denials by ${wanted}, got ${rows}`);
  }
  return failures;
}
