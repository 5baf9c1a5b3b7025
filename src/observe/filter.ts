// Flow filters shared by `meshc monitor` and the agent's /flows stream: namespace, pod, Service,
// verdict and layer. A filter given matches when any side of the flow has it.
import { VERDICTS, type Flow, type Verdict } from './flow.ts';

export interface FlowFilter {
  namespace?: string;
  /** `name` or `namespace/name`: the client pod or the backend pod. */
  pod?: string;
  /** `name` or `namespace/name`: the Service dialled or the backend's Service. */
  service?: string;
  verdict?: Verdict;
  layer?: 'L4' | 'L7';
}

/** Reads a filter from query parameters or options; a bad value throws naming the field. */
export function parseFilter(values: Record<string, string | undefined>, where: string): FlowFilter {
  const filter: FlowFilter = {};
  if (values.namespace) filter.namespace = values.namespace;
  if (values.pod) filter.pod = values.pod;
  if (values.service) filter.service = values.service;
  if (values.verdict) {
    if (!VERDICTS.includes(values.verdict as Verdict)) throw new Error(`${where}: verdict "${values.verdict}" is not one of ${VERDICTS.join(', ')}`);
    filter.verdict = values.verdict as Verdict;
  }
  if (values.layer) {
    const layer = values.layer.toUpperCase();
    if (layer !== 'L4' && layer !== 'L7') throw new Error(`${where}: layer "${values.layer}" is not L4 or L7`);
    filter.layer = layer;
  }
  return filter;
}

function nameMatches(wanted: string, full: string | null | undefined): boolean {
  if (!full) return false;
  return wanted.includes('/') ? full === wanted : full.slice(full.indexOf('/') + 1) === wanted;
}

function namespaceOf(full: string | null | undefined): string | null {
  if (!full) return null;
  const slash = full.indexOf('/');
  return slash < 0 ? null : full.slice(0, slash);
}

export function matchesFilter(flow: Flow, filter: FlowFilter): boolean {
  if (filter.layer && flow.layer !== filter.layer) return false;
  if (filter.verdict && flow.verdict !== filter.verdict) return false;
  const source = flow.source.pod ? `${flow.source.pod.namespace}/${flow.source.pod.name}` : null;
  const backend = flow.destination.backend;
  if (filter.pod && !nameMatches(filter.pod, source) && !nameMatches(filter.pod, backend?.pod)) return false;
  if (filter.service && !nameMatches(filter.service, flow.destination.service) && !nameMatches(filter.service, backend?.service)) return false;
  if (filter.namespace) {
    const spaces = [flow.source.pod?.namespace, namespaceOf(flow.destination.service), namespaceOf(backend?.service), namespaceOf(backend?.pod)];
    if (!spaces.includes(filter.namespace)) return false;
  }
  return true;
}

export function filterQuery(filter: FlowFilter): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v !== undefined) params.set(k, String(v));
  return params.toString();
}
