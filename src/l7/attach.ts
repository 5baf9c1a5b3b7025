// Which HTTPRoutes apply to a request sent to a Service frontend (mesh profile, semantics.md D).

import type { HTTPRoute, ParentRef } from '../model/types.ts';

/** A Service frontend as a client dials it: the Service and the Service port (not the targetPort). */
export interface ServiceFrontend {
  namespace: string;
  name: string;
  port: number;
  /** The Service port's name ('' when unnamed); parentRef.sectionName refers to it. */
  portName: string;
}

/** Producer: route in the Service's namespace. Consumer: route in another namespace. */
export type RouteRole = 'producer' | 'consumer';

/**
 * True when the parentRef names this Service (group '', kind Service, name and namespace) and,
 * if it sets `port` or `sectionName`, that port or port name (fact 29: no port means every port).
 */
export function parentRefSelects(ref: ParentRef, frontend: ServiceFrontend): boolean {
  if (ref.group !== '' || ref.kind !== 'Service') return false;
  if (ref.name !== frontend.name || ref.namespace !== frontend.namespace) return false;
  if (ref.port !== undefined && ref.port !== frontend.port) return false;
  if (ref.sectionName !== undefined && ref.sectionName !== frontend.portName) return false;
  return true;
}

export function routeAttaches(route: HTTPRoute, frontend: ServiceFrontend): boolean {
  return route.parentRefs.some((ref) => parentRefSelects(ref, frontend));
}

export function routeRole(route: HTTPRoute, frontend: ServiceFrontend): RouteRole {
  return route.meta.namespace === frontend.namespace ? 'producer' : 'consumer';
}

/**
 * The routes that decide a request from a client in `clientNamespace` to `frontend` (fact 32):
 * the consumer routes of the client's namespace if there are any, otherwise the producer routes.
 * Consumer routes of other namespaces never apply. The two groups are never merged. An empty
 * result means no route applies and the Service behaves as a plain Service (fact 31).
 */
export function routesForFrontend(
  routes: readonly HTTPRoute[],
  frontend: ServiceFrontend,
  clientNamespace: string,
): HTTPRoute[] {
  const attached = routes.filter((r) => routeAttaches(r, frontend));
  const consumer = attached.filter((r) => r.meta.namespace !== frontend.namespace && r.meta.namespace === clientNamespace);
  if (consumer.length > 0) return consumer;
  return attached.filter((r) => r.meta.namespace === frontend.namespace);
}
