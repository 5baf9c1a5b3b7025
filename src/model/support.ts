// What meshc does with the HTTPRoute fields it does not (yet) carry out, per path: `simulate` (the
// simulator and the playground) and `live` (the agent: the kernel and the node proxy). One
// declaration: the model's "not applied" reports and docs/support.md are both held to it.

/** Whether a path carries a field out. */
export interface PathSupport {
  simulate: boolean;
  live: boolean;
}

/** Every HTTPRoute filter type of the Gateway API (v1.3), standard and experimental channels. */
export const FILTER_SUPPORT: Readonly<Record<string, PathSupport>> = {
  RequestHeaderModifier: { simulate: true, live: true },
  ResponseHeaderModifier: { simulate: true, live: true },
  RequestMirror: { simulate: false, live: false },
  RequestRedirect: { simulate: true, live: true },
  URLRewrite: { simulate: true, live: true },
  ExtensionRef: { simulate: false, live: false },
  CORS: { simulate: false, live: false },
  ExternalAuth: { simulate: false, live: false },
};

/** Rule fields other than matches, filters and backendRefs. */
export const RULE_FIELD_SUPPORT: Readonly<Record<string, PathSupport>> = {
  timeouts: { simulate: false, live: true },
  sessionPersistence: { simulate: false, live: false },
  retry: { simulate: false, live: false },
};

/**
 * "is not applied by simulate or by the agent (kernel and node proxy)", or the one path that does
 * not apply it; undefined when both do.
 */
export function notAppliedText(support: PathSupport | undefined): string | undefined {
  if (support?.simulate && support.live) return undefined;
  if (support?.simulate) return 'is not applied live (neither the kernel nor the node proxy does it; simulate does)';
  if (support?.live) return 'is not applied by simulate or the playground (the node proxy does it live)';
  return 'is not applied: neither simulate nor the agent (kernel or node proxy) does it';
}

/**
 * What meshc does with a field: `applied` (routing follows it, in simulate and on a node alike),
 * `read` (checked, or used for names and messages, with no effect on routing), `reported` (read
 * past with a located warning that it is not applied), `ignored` (not read, nothing said).
 */
export type FieldStatus = 'applied' | 'read' | 'reported' | 'ignored';

export interface FieldSupport {
  /** A kind, several joined by ", ", or "every kind". */
  kind: string;
  /** `[]` for every list item, `*` for every key of the user's maps (labels, selectors). */
  field: string;
  status: FieldStatus;
  note: string;
}

export const EVERY_KIND = 'every kind';
const WORKLOADS = 'Deployment, StatefulSet, ReplicaSet';
const NP = 'NetworkPolicy';
const CNP = 'CiliumNetworkPolicy';

/** The rows of one label selector at `at`: matchLabels and matchExpressions, `note` on the first. */
function selectorRows(kind: string, at: string, note: string): FieldSupport[] {
  return [
    { kind, field: `${at}.matchLabels.*`, status: 'applied', note },
    { kind, field: `${at}.matchExpressions[].key`, status: 'applied', note: '' },
    { kind, field: `${at}.matchExpressions[].operator`, status: 'applied', note: 'In, NotIn, Exists, DoesNotExist' },
    { kind, field: `${at}.matchExpressions[].values[]`, status: 'applied', note: '' },
  ];
}

/** A NetworkPolicy rule's peers and ports, for `spec.ingress[].from` or `spec.egress[].to`. */
function networkPolicyRuleRows(rules: string, peers: string): FieldSupport[] {
  return [
    ...selectorRows(NP, `${rules}.${peers}[].podSelector`, 'pods of the policy\'s namespace, or of the namespaces namespaceSelector picks (both: AND)'),
    ...selectorRows(NP, `${rules}.${peers}[].namespaceSelector`, 'namespaces by their labels (kubernetes.io/metadata.name is always set)'),
    { kind: NP, field: `${rules}.${peers}[].ipBlock.cidr`, status: 'applied', note: 'pod addresses too; host bits set: a warning, read cleared' },
    { kind: NP, field: `${rules}.${peers}[].ipBlock.except[]`, status: 'applied', note: 'strict subsets of cidr' },
    { kind: NP, field: `${rules}.ports[].protocol`, status: 'applied', note: 'TCP (default), UDP, SCTP' },
    { kind: NP, field: `${rules}.ports[].port`, status: 'applied', note: 'a number, or a container port name resolved at the destination pod; absent: every port' },
    { kind: NP, field: `${rules}.ports[].endPort`, status: 'applied', note: 'with a numeric port only' },
  ];
}

/** Cilium peers meshc does not read: a rule whose only peers they are allows nothing (fail closed). */
const CILIUM_UNREAD_PEERS = {
  ingress: ['fromEntities', 'fromRequires', 'fromGroups', 'fromNodes', 'icmps'],
  egress: ['toEntities', 'toRequires', 'toGroups', 'toNodes', 'toFQDNs', 'toServices', 'icmps'],
};

/** A CiliumNetworkPolicy rule, for `spec.ingress[]` (from) or `spec.egress[]` (to). */
function ciliumRuleRows(direction: 'ingress' | 'egress'): FieldSupport[] {
  const rules = `spec.${direction}[]`;
  const peer = direction === 'ingress' ? 'from' : 'to';
  return [
    ...selectorRows(CNP, `${rules}.${peer}Endpoints[]`, 'k8s:io.kubernetes.pod.namespace picks the namespace, else the policy\'s own; k8s: prefixes dropped'),
    { kind: CNP, field: `${rules}.${peer}CIDR[]`, status: 'applied', note: '' },
    { kind: CNP, field: `${rules}.${peer}CIDRSet[].cidr`, status: 'applied', note: '' },
    { kind: CNP, field: `${rules}.${peer}CIDRSet[].except[]`, status: 'applied', note: '' },
    ...CILIUM_UNREAD_PEERS[direction].map((key): FieldSupport => ({ kind: CNP, field: `${rules}.${key}`, status: 'reported', note: 'not applied: a rule with only such peers allows nothing' })),
    { kind: CNP, field: `${rules}.toPorts[].ports[].port`, status: 'applied', note: 'a string as Cilium writes it ("8080"), or a container port name; "0" or absent: every port' },
    { kind: CNP, field: `${rules}.toPorts[].ports[].protocol`, status: 'applied', note: 'TCP, UDP, SCTP, ANY (default)' },
    { kind: CNP, field: `${rules}.toPorts[].ports[].endPort`, status: 'applied', note: '' },
    { kind: CNP, field: `${rules}.toPorts[].rules`, status: 'reported', note: 'L7 rules are not enforced: the ports are allowed for every request' },
    { kind: CNP, field: `${rules}.authentication.mode`, status: 'reported', note: 'required: not enforced until the identity work lands; the rule applies without authenticating the peer' },
  ];
}

/** Every Kubernetes, Gateway API and CiliumNetworkPolicy field the model reads, and the notable ones it does not. docs/support.md lists the same. */
export const FIELD_SUPPORT: readonly FieldSupport[] = [
  { kind: EVERY_KIND, field: 'apiVersion', status: 'read', note: 'an unsupported version is a warning and the object is skipped' },
  { kind: EVERY_KIND, field: 'kind', status: 'read', note: 'kinds meshc does not need are counted (--verbose), unknown ones are a warning' },
  { kind: EVERY_KIND, field: 'metadata.name', status: 'applied', note: 'checked as the API server does' },
  { kind: EVERY_KIND, field: 'metadata.namespace', status: 'applied', note: 'default "default"; a DNS label' },
  { kind: EVERY_KIND, field: 'metadata.labels.*', status: 'applied', note: 'selectors, kubernetes.io/service-name, topology.kubernetes.io/zone' },
  { kind: EVERY_KIND, field: 'metadata.annotations.*', status: 'applied', note: 'meshc.io/skip, meshc.io/lb-algorithm' },
  { kind: EVERY_KIND, field: 'metadata.creationTimestamp', status: 'applied', note: 'the tie-break between HTTPRoutes' },
  { kind: EVERY_KIND, field: 'metadata.uid', status: 'read', note: "a Pod's names its cgroup for meshc.io/skip on a node" },
  { kind: 'Service', field: 'spec.type', status: 'applied', note: 'ExternalName Services are not load-balanced' },
  { kind: 'Service', field: 'spec.clusterIP', status: 'applied', note: '"None": headless, not load-balanced; unset: allocated from 10.96.0.0/12' },
  { kind: 'Service', field: 'spec.clusterIPs[]', status: 'applied', note: 'one per family, primary first' },
  { kind: 'Service', field: 'spec.ipFamilies[]', status: 'applied', note: 'IPv6 ClusterIPs are allocated from fd00:10:96::/112' },
  { kind: 'Service', field: 'spec.ipFamilyPolicy', status: 'applied', note: 'PreferDualStack and RequireDualStack get both families' },
  { kind: 'Service', field: 'spec.selector.*', status: 'applied', note: 'endpoints from selected Pods (and made-up pods) when no EndpointSlice names the Service' },
  { kind: 'Service', field: 'spec.ports[].name', status: 'applied', note: '' },
  { kind: 'Service', field: 'spec.ports[].port', status: 'applied', note: '' },
  { kind: 'Service', field: 'spec.ports[].protocol', status: 'applied', note: 'TCP, UDP; SCTP is read but the hooks see TCP and UDP only' },
  { kind: 'Service', field: 'spec.ports[].targetPort', status: 'applied', note: 'by number or by container port name, per endpoint' },
  { kind: 'Service', field: 'spec.ports[].appProtocol', status: 'read', note: '' },
  { kind: 'Service', field: 'spec.ports[].nodePort', status: 'ignored', note: 'meshc routes ClusterIP traffic only' },
  { kind: 'Service', field: 'spec.sessionAffinity', status: 'applied', note: 'ClientIP' },
  { kind: 'Service', field: 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', status: 'applied', note: 'default 10800' },
  { kind: 'Service', field: 'spec.internalTrafficPolicy', status: 'applied', note: 'Local: endpoints on the client\'s node only' },
  { kind: 'Service', field: 'spec.trafficDistribution', status: 'applied', note: 'PreferClose: zone preference' },
  { kind: 'Service', field: 'spec.externalName', status: 'read', note: 'not load-balanced' },
  { kind: 'Service', field: 'spec.externalTrafficPolicy', status: 'ignored', note: 'external traffic is not meshc\'s' },
  { kind: 'Service', field: 'spec.loadBalancerIP', status: 'ignored', note: '' },
  { kind: 'Service', field: 'spec.publishNotReadyAddresses', status: 'ignored', note: 'not-ready endpoints are used only as the serving-terminating fallback' },
  { kind: 'EndpointSlice', field: 'addressType', status: 'applied', note: 'FQDN slices are skipped with a warning' },
  { kind: 'EndpointSlice', field: 'ports[].name', status: 'applied', note: 'matched to the Service port name' },
  { kind: 'EndpointSlice', field: 'ports[].port', status: 'applied', note: '' },
  { kind: 'EndpointSlice', field: 'ports[].protocol', status: 'applied', note: '' },
  { kind: 'EndpointSlice', field: 'ports[].appProtocol', status: 'ignored', note: '' },
  { kind: 'EndpointSlice', field: 'endpoints[].addresses[]', status: 'applied', note: 'the first; loopback, link-local, unspecified, broadcast and IPv4-mapped addresses are refused' },
  { kind: 'EndpointSlice', field: 'endpoints[].conditions.ready', status: 'applied', note: 'unset: true' },
  { kind: 'EndpointSlice', field: 'endpoints[].conditions.serving', status: 'applied', note: 'unset: ready' },
  { kind: 'EndpointSlice', field: 'endpoints[].conditions.terminating', status: 'applied', note: 'unset: false' },
  { kind: 'EndpointSlice', field: 'endpoints[].nodeName', status: 'applied', note: 'internalTrafficPolicy Local' },
  { kind: 'EndpointSlice', field: 'endpoints[].zone', status: 'applied', note: 'zone preference' },
  { kind: 'EndpointSlice', field: 'endpoints[].hints.forZones[].name', status: 'applied', note: 'zone preference' },
  { kind: 'EndpointSlice', field: 'endpoints[].targetRef.kind', status: 'applied', note: 'the pod behind an endpoint (names, meshc.io/skip)' },
  { kind: 'EndpointSlice', field: 'endpoints[].targetRef.name', status: 'applied', note: '' },
  { kind: 'EndpointSlice', field: 'endpoints[].targetRef.namespace', status: 'applied', note: '' },
  { kind: 'EndpointSlice', field: 'endpoints[].hostname', status: 'ignored', note: '' },
  { kind: 'Pod', field: 'metadata.deletionTimestamp', status: 'applied', note: 'terminating' },
  { kind: 'Pod', field: 'spec.nodeName', status: 'applied', note: '' },
  { kind: 'Pod', field: 'spec.serviceAccountName', status: 'applied', note: 'the workload identity (agent --tunnel)' },
  { kind: 'Pod', field: 'spec.hostNetwork', status: 'applied', note: 'no identity of its own (agent --tunnel)' },
  { kind: 'Pod', field: 'spec.containers[].ports[].containerPort', status: 'applied', note: 'named targetPorts' },
  { kind: 'Pod', field: 'spec.containers[].ports[].name', status: 'applied', note: '' },
  { kind: 'Pod', field: 'spec.containers[].ports[].protocol', status: 'applied', note: '' },
  { kind: 'Pod', field: 'spec.containers[].image', status: 'ignored', note: '' },
  { kind: 'Pod', field: 'status.phase', status: 'applied', note: 'Succeeded and Failed pods give no endpoint' },
  { kind: 'Pod', field: 'status.podIP', status: 'applied', note: 'when podIPs is absent' },
  { kind: 'Pod', field: 'status.podIPs[].ip', status: 'applied', note: 'special addresses give no endpoint' },
  { kind: 'Pod', field: 'status.conditions[].type', status: 'applied', note: 'Ready' },
  { kind: 'Pod', field: 'status.conditions[].status', status: 'applied', note: '' },
  { kind: WORKLOADS, field: 'spec.replicas', status: 'applied', note: 'simulation only: made-up pods, capped at 1000 per workload and 10000 in all' },
  { kind: WORKLOADS, field: 'spec.selector.matchLabels.*', status: 'applied', note: 'whether real Pods already stand for the workload' },
  { kind: WORKLOADS, field: 'spec.selector.matchExpressions', status: 'reported', note: 'only matchLabels is used' },
  { kind: WORKLOADS, field: 'spec.template.metadata.labels.*', status: 'applied', note: 'the made-up pods\' labels' },
  { kind: WORKLOADS, field: 'spec.template.metadata.annotations.*', status: 'applied', note: 'meshc.io/skip' },
  { kind: WORKLOADS, field: 'spec.template.spec.containers[].ports[].containerPort', status: 'applied', note: 'named targetPorts' },
  { kind: WORKLOADS, field: 'spec.template.spec.containers[].ports[].name', status: 'applied', note: '' },
  { kind: WORKLOADS, field: 'spec.template.spec.containers[].ports[].protocol', status: 'applied', note: '' },
  { kind: WORKLOADS, field: 'spec.template.spec.nodeSelector', status: 'ignored', note: 'made-up pods are spread over the given nodes' },
  { kind: WORKLOADS, field: 'spec.strategy', status: 'ignored', note: '' },
  { kind: 'ReferenceGrant', field: 'spec.from[].group', status: 'applied', note: 'Gateway-bound routes only: mesh routes need no grant (GEP-1294)' },
  { kind: 'ReferenceGrant', field: 'spec.from[].kind', status: 'applied', note: '' },
  { kind: 'ReferenceGrant', field: 'spec.from[].namespace', status: 'applied', note: '' },
  { kind: 'ReferenceGrant', field: 'spec.to[].group', status: 'applied', note: '' },
  { kind: 'ReferenceGrant', field: 'spec.to[].kind', status: 'applied', note: '' },
  { kind: 'ReferenceGrant', field: 'spec.to[].name', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.parentRefs[].group', status: 'applied', note: 'Service parents only; others are reported as not in the mesh' },
  { kind: 'HTTPRoute', field: 'spec.parentRefs[].kind', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.parentRefs[].name', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.parentRefs[].namespace', status: 'applied', note: 'producer and consumer routes' },
  { kind: 'HTTPRoute', field: 'spec.parentRefs[].port', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.parentRefs[].sectionName', status: 'applied', note: 'the Service port name' },
  { kind: 'HTTPRoute', field: 'spec.hostnames', status: 'reported', note: 'mesh routes do not match on hostnames (GEP-1294)' },
  { kind: 'HTTPRoute', field: 'spec.rules[].name', status: 'read', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].matches[].path.type', status: 'applied', note: 'Exact, PathPrefix, RegularExpression (JavaScript syntax)' },
  { kind: 'HTTPRoute', field: 'spec.rules[].matches[].path.value', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].matches[].headers[].type', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].matches[].headers[].name', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].matches[].headers[].value', status: 'applied', note: 'CR, LF and NUL are refused' },
  { kind: 'HTTPRoute', field: 'spec.rules[].matches[].queryParams[].type', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].matches[].queryParams[].name', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].matches[].queryParams[].value', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].matches[].method', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].filters[]', status: 'reported', note: 'per type, see the filter table' },
  { kind: 'HTTPRoute', field: 'spec.rules[].backendRefs[].group', status: 'applied', note: 'core Service only' },
  { kind: 'HTTPRoute', field: 'spec.rules[].backendRefs[].kind', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].backendRefs[].name', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].backendRefs[].namespace', status: 'applied', note: 'no ReferenceGrant needed in the mesh' },
  { kind: 'HTTPRoute', field: 'spec.rules[].backendRefs[].port', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].backendRefs[].weight', status: 'applied', note: 'per connection in the kernel, per request behind the node proxy' },
  { kind: 'HTTPRoute', field: 'spec.rules[].backendRefs[].filters[]', status: 'applied', note: 'RequestHeaderModifier and ResponseHeaderModifier (other types are errors)' },
  { kind: 'HTTPRoute', field: 'spec.rules[].backendRefs[].filters[].type', status: 'applied', note: '' },
  { kind: 'HTTPRoute', field: 'spec.rules[].backendRefs[].filters[].responseHeaderModifier.remove[]', status: 'applied', note: 'and the other fields of both header modifiers' },
  ...Object.entries(RULE_FIELD_SUPPORT).map(([field, support]): FieldSupport => ({
    kind: 'HTTPRoute', field: `spec.rules[].${field}`, status: notAppliedText(support) ? 'reported' : 'applied', note: '',
  })),
  ...selectorRows(NP, 'spec.podSelector', 'required; {} selects every pod of the namespace'),
  { kind: NP, field: 'spec.policyTypes[]', status: 'applied', note: 'default: Ingress, and Egress when spec.egress is written' },
  ...networkPolicyRuleRows('spec.ingress[]', 'from'),
  ...networkPolicyRuleRows('spec.egress[]', 'to'),
  { kind: CNP, field: 'specs', status: 'reported', note: 'one policy per object: meshc reads spec' },
  ...selectorRows(CNP, 'spec.endpointSelector', 'required; k8s: prefixes dropped'),
  { kind: CNP, field: 'spec.nodeSelector', status: 'reported', note: 'host policies: meshc selects pods only' },
  ...ciliumRuleRows('ingress'),
  ...ciliumRuleRows('egress'),
  { kind: CNP, field: 'spec.ingressDeny', status: 'reported', note: 'meshc reads allow rules only' },
  { kind: CNP, field: 'spec.egressDeny', status: 'reported', note: 'meshc reads allow rules only' },
];
