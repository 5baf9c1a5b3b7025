// The Service `meshc simulate --to` names, in every form a client or a person writes it:
// `name[.namespace]:port` (src/sim/target.ts), `name.namespace.svc[.cluster.local]:port`,
// `namespace/name:port`, or the ClusterIP, `10.96.0.10:80` or `[fd00::10]:80`. The port is the
// Service port, by number or by name.

import type { Model } from '../model/types.ts';
import { formatAddress, parseAddress } from '../model/ip.ts';
import { parseTarget, type ServiceTarget } from './target.ts';

export type ServiceAddress = ServiceTarget | { clusterIP: string; port: number | string };

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_NAME = new RegExp(`^(${LABEL})\\.(${LABEL})\\.svc(\\.cluster\\.local)?\\.?$`);
const SLASHED = new RegExp(`^(${LABEL})/(${LABEL})$`);

function port(text: string): number | string | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(text) ? text : undefined;
}

/** The address in any of the forms above, or undefined when it is none of them. */
export function parseServiceAddress(text: string): ServiceAddress | undefined {
  const trimmed = text.trim();
  const plain = parseTarget(trimmed);
  if (plain) return plain;
  const bracketed = /^\[([0-9A-Fa-f:.]+)\]:([^:]+)$/.exec(trimmed);
  const colon = trimmed.lastIndexOf(':');
  const [host, portText] = bracketed ? [bracketed[1]!, bracketed[2]!] : colon < 0 ? ['', ''] : [trimmed.slice(0, colon), trimmed.slice(colon + 1)];
  const p = port(portText);
  if (p === undefined) return undefined;
  const address = parseAddress(host);
  if (address && (bracketed ? address.family === 6 : address.family === 4)) return { clusterIP: formatAddress(address), port: p };
  const dns = DNS_NAME.exec(host);
  if (dns) return { name: dns[1]!, namespace: dns[3]!, port: p };
  const slashed = SLASHED.exec(host);
  if (slashed) return { name: slashed[3]!, namespace: slashed[1]!, port: p };
  return undefined;
}

/** The Service behind a ClusterIP; a name is returned as it is. Undefined when no Service has that IP. */
export function resolveServiceAddress(model: Model, address: ServiceAddress | { name: string; namespace?: string; port: number | string }): { name: string; namespace?: string; port: number | string } | undefined {
  if (!('clusterIP' in address)) return address;
  for (const service of model.services.values()) {
    if (service.clusterIPs.includes(address.clusterIP)) return { name: service.meta.name, namespace: service.meta.namespace, port: address.port };
  }
  return undefined;
}
