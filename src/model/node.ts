// Node objects: name and zone.

import type { Node } from './types.ts';
import type { KubeObject } from './objects.ts';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export function normalizeNode(object: KubeObject): Node {
  const node: Node = { name: object.meta.name };
  const zone = object.meta.labels[ZONE_LABEL];
  if (zone) node.zone = zone;
  return node;
}
