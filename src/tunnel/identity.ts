// SPIFFE IDs as the tunnel reads them: from a peer certificate's one URI SAN, their trust domain,
// and the TLS server name that asks a node's tunnel for one identity's certificate.
import type { PeerCertificate } from 'node:tls';

const SPIFFE = /^spiffe:\/\/([a-z0-9._-]+)\/ns\/([a-z0-9-]+)\/sa\/([a-z0-9.-]+)$/;

/** `spiffe://<trust domain>/ns/<ns>/sa/<sa>` split into its parts, or an error naming `field`. */
export function parseSpiffeId(id: string, field: string): { trustDomain: string; namespace: string; serviceAccount: string } {
  const m = SPIFFE.exec(id);
  if (!m) throw new Error(`${field}: "${id}" is not a SPIFFE ID of the form spiffe://<trust domain>/ns/<namespace>/sa/<service account>`);
  return { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}

/**
 * The SPIFFE ID a verified peer certificate carries: its only URI SAN. Undefined when it has
 * none, more than one, or one that is no SPIFFE ID.
 */
export function peerSpiffeId(cert: PeerCertificate | undefined): string | undefined {
  const san = cert?.subjectaltname;
  if (!san) return undefined;
  const uris = san.split(', ').filter((entry) => entry.startsWith('URI:')).map((entry) => entry.slice(4));
  if (uris.length !== 1 || !SPIFFE.test(uris[0]!)) return undefined;
  return uris[0];
}

/** The TLS server name that asks a tunnel to present `identity`'s certificate. */
export function serverNameOf(identity: string): string {
  const { trustDomain, namespace, serviceAccount } = parseSpiffeId(identity, 'identity');
  return `${serviceAccount}.${namespace}.sa.${trustDomain}`;
}
