// Node objects: name, zone and InternalIP (the address the node proxy listens on).

import type { Node } from './types.ts';
import type { KubeObject } from './objects.ts';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export function normalizeNode(object: KubeObject): Node {
  const node: Node = { name: object.meta.name };
  const zone = object.meta.labels[ZONE_LABEL];
  if (zone) node.zone = zone;
  const addresses = (object.body.status as { addresses?: unknown } | undefined)?.addresses;
  if (Array.isArray(addresses)) {
    const internal = addresses.find((a) => a && typeof a === 'object' && (a as { type?: unknown }).type === 'InternalIP' && typeof (a as { address?: unknown }).address === 'string');
    if (internal) node.internalIP = (internal as { address: string }).address;
  }
  return node;
}
