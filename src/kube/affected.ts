// Which Services an object change can alter the tables of. The reconciler diffs rows anyway, so
// this is what the agent logs and counts, and what lets it skip work when nothing it serves moved.
import { SERVICE_NAME_LABEL } from '../model/endpointslice.ts';

type Raw = Record<string, any>;

export interface RouteRefs {
  /** Services the route attaches to (GAMMA parentRefs of kind Service), `namespace/name`. */
  parents: string[];
  /** Services its rules send to, `namespace/name`. */
  backends: string[];
}

const isCoreService = (ref: Raw) => (ref?.group === undefined || ref.group === '' || ref.group === 'core') && (ref?.kind ?? 'Service') === 'Service';

/** The Service references of an HTTPRoute, read leniently (bad fields are the model's to report). */
export function routeRefs(route: Raw): RouteRefs {
  const namespace: string = route?.metadata?.namespace || 'default';
  const key = (ref: Raw) => `${typeof ref.namespace === 'string' && ref.namespace ? ref.namespace : namespace}/${ref.name}`;
  const parents: string[] = (Array.isArray(route?.spec?.parentRefs) ? route.spec.parentRefs : [])
    .filter((ref: Raw) => typeof ref?.name === 'string' && isCoreService(ref))
    .map(key);
  const backends: string[] = [];
  for (const rule of Array.isArray(route?.spec?.rules) ? route.spec.rules : []) {
    for (const ref of Array.isArray(rule?.backendRefs) ? rule.backendRefs : []) {
      if (typeof ref?.name === 'string' && isCoreService(ref)) backends.push(key(ref));
    }
  }
  return { parents: [...new Set(parents)], backends: [...new Set(backends)] };
}

/** The Service an EndpointSlice belongs to, `namespace/name`, when it is labelled with one. */
export function sliceService(slice: Raw): string | undefined {
  const name = slice?.metadata?.labels?.[SERVICE_NAME_LABEL];
  return typeof name === 'string' && name !== '' ? `${slice.metadata.namespace || 'default'}/${name}` : undefined;
}

/** `services` plus the Services whose routes send to any of them, transitively. */
export function withRouteParents(services: Iterable<string>, routes: Iterable<RouteRefs>): Set<string> {
  const out = new Set(services);
  const list = [...routes];
  for (let grew = true; grew; ) {
    grew = false;
    for (const route of list) {
      if (!route.backends.some((backend) => out.has(backend))) continue;
      for (const parent of route.parents) {
        if (!out.has(parent)) {
          out.add(parent);
          grew = true;
        }
      }
    }
  }
  return out;
}
