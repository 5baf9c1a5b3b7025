// `meshc inspect`'s identities block: the SVIDs the agent holds in memory (from its status file,
// src/identity/status.ts), each with its expiry and renewal time, and the refusals it met.
import type { IdentityStatus } from '../identity/status.ts';
import { formatTable } from '../text/table.ts';

function remaining(iso: string, now: Date): string {
  const seconds = Math.round((new Date(iso).getTime() - now.getTime()) / 1000);
  if (seconds <= 0) return 'expired';
  if (seconds < 120) return `in ${seconds}s`;
  if (seconds < 7200) return `in ${Math.round(seconds / 60)}m`;
  return `in ${(seconds / 3600).toFixed(1)}h`;
}

export function formatIdentities(status: IdentityStatus, now = new Date()): string {
  const lines = ['', `identities (trust domain ${status.trustDomain}, CA ${status.caUrl}, as of ${status.updated}):`];
  if (status.identities.length === 0) lines.push('  none held');
  else {
    lines.push(
      ...formatTable(
        [['SPIFFE ID', 'EXPIRES', '', 'RENEWS', 'SERIAL'], ...status.identities.map((i) => [i.spiffeId, i.notAfter, `(${remaining(i.notAfter, now)})`, i.renewAt, i.serial])],
        { indent: '  ' },
      ),
    );
  }
  for (const p of status.problems) lines.push(`  problem: ${p.serviceAccount}: ${p.error}`);
  return `${lines.join('\n')}\n`;
}
