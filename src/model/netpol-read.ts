// Reading NetworkPolicy (networking.k8s.io/v1) and CiliumNetworkPolicy (cilium.io/v2) objects
// into the one NetworkPolicy shape, checked as the API server checks them: a bad policy is left
// out with an error naming the object and the field; what meshc does not enforce is a warning.
import type { KubeObject } from './objects.ts';
import type { FieldPath } from './manifest-doc.ts';
import type { Reporter } from './diagnostics.ts';
import type { Protocol } from './types.ts';
import { isFields, listAt, mappingAt, stringAt, describe, type Fields } from './fields.ts';
import { formatCidr, parseAddress, type Cidr } from './ip.ts';
import { isContainerPortName } from './service.ts';
import { EVERYTHING, readSelector, readSelectorAt } from './netpol-selector.ts';
import type { LabelSelector, NetworkPeer, NetworkPolicy, NetworkPort, NetworkRule } from './netpol-types.ts';

const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export function readNetworkPolicy(object: KubeObject): NetworkPolicy | undefined {
  const report = object.report;
  const spec = mappingAt(object.body, 'spec', [], report);
  const path = ['spec'];
  if (spec['podSelector'] === undefined || spec['podSelector'] === null) {
    report.reject([...path, 'podSelector'], 'is required ({} selects every pod of the namespace)');
  }
  const podSelector = readSelector(spec, 'podSelector', path, report);
  const types = readPolicyTypes(spec, path, report);
  const policy: NetworkPolicy = { kind: 'NetworkPolicy', meta: object.meta, podSelector };
  if (types.ingress) policy.ingress = readRules(spec, 'ingress', 'from', path, report);
  else if (spec['ingress'] !== undefined) report.warn([...path, 'ingress'], 'is not used: spec.policyTypes leaves out Ingress');
  if (types.egress) policy.egress = readRules(spec, 'egress', 'to', path, report);
  else if (spec['egress'] !== undefined) report.warn([...path, 'egress'], 'is not used: spec.policyTypes leaves out Egress');
  return report.rejected ? undefined : policy;
}

/** spec.policyTypes, or its default: Ingress, and Egress when spec.egress is written. */
function readPolicyTypes(spec: Fields, path: FieldPath, report: Reporter): { ingress: boolean; egress: boolean } {
  if (spec['policyTypes'] === undefined || spec['policyTypes'] === null) return { ingress: true, egress: spec['egress'] !== undefined && spec['egress'] !== null };
  const types = { ingress: false, egress: false };
  listAt(spec, 'policyTypes', path, report).forEach((item, index) => {
    if (item === 'Ingress') types.ingress = true;
    else if (item === 'Egress') types.egress = true;
    else report.reject([...path, 'policyTypes', index], `${describe(item)} is not one of Ingress, Egress`);
  });
  return types;
}

function readRules(spec: Fields, key: 'ingress' | 'egress', peersKey: 'from' | 'to', path: FieldPath, report: Reporter): NetworkRule[] {
  const rules: NetworkRule[] = [];
  listAt(spec, key, path, report).forEach((item, index) => {
    const at = [...path, key, index];
    if (!isFields(item)) return report.reject(at, `must be a mapping (with ${peersKey} and ports), got ${describe(item)}`);
    const hasPeers = item[peersKey] !== undefined && item[peersKey] !== null && !(Array.isArray(item[peersKey]) && item[peersKey].length === 0);
    const peers = hasPeers ? listAt(item, peersKey, at, report).map((peer, i) => readPeer(peer, [...at, peersKey, i], report)) : 'any';
    const hasPorts = Array.isArray(item['ports']) && item['ports'].length > 0;
    const ports = hasPorts ? listAt(item, 'ports', at, report).map((port, i) => readPort(port, [...at, 'ports', i], report)) : (listAt(item, 'ports', at, report), 'all' as const);
    if (peers !== 'any' && peers.some((p) => p === undefined)) return;
    if (ports !== 'all' && ports.some((p) => p === undefined)) return;
    rules.push({ peers: peers as NetworkPeer[] | 'any', ports: ports as NetworkPort[] | 'all' });
  });
  return rules;
}

function readPeer(peer: unknown, path: FieldPath, report: Reporter): NetworkPeer | undefined {
  if (!isFields(peer)) {
    report.reject(path, `must be a mapping with podSelector, namespaceSelector or ipBlock, got ${describe(peer)}`);
    return undefined;
  }
  const hasPods = peer['podSelector'] !== undefined && peer['podSelector'] !== null;
  const hasNamespaces = peer['namespaceSelector'] !== undefined && peer['namespaceSelector'] !== null;
  const hasBlock = peer['ipBlock'] !== undefined && peer['ipBlock'] !== null;
  if (hasBlock && (hasPods || hasNamespaces)) {
    report.reject([...path, 'ipBlock'], 'may not be combined with podSelector or namespaceSelector in one peer (write two peers)');
    return undefined;
  }
  if (hasBlock) return readIpBlock(mappingAt(peer, 'ipBlock', path, report), [...path, 'ipBlock'], report);
  if (!hasPods && !hasNamespaces) {
    report.reject(path, 'must set podSelector, namespaceSelector or ipBlock');
    return undefined;
  }
  const pods = readSelector(peer, 'podSelector', path, report);
  if (!hasNamespaces) return { kind: 'pods', pods };
  return { kind: 'pods', pods, namespaces: readSelector(peer, 'namespaceSelector', path, report) };
}

function readIpBlock(block: Fields, path: FieldPath, report: Reporter): NetworkPeer | undefined {
  const cidrText = stringAt(block, 'cidr', path, report);
  if (!cidrText) {
    report.reject([...path, 'cidr'], 'is required');
    return undefined;
  }
  const cidr = readCidr(cidrText, [...path, 'cidr'], report);
  if (!cidr) return undefined;
  const except: string[] = [];
  listAt(block, 'except', path, report).forEach((item, index) => {
    const at = [...path, 'except', index];
    if (typeof item !== 'string') return report.reject(at, `must be a CIDR string, got ${describe(item)}`);
    const inner = readCidr(item, at, report);
    if (!inner) return;
    if (inner.family !== cidr.family || inner.prefixLength <= cidr.prefixLength || inner.base < cidr.base || inner.base + inner.size > cidr.base + cidr.size) {
      return report.reject(at, `${item} is not a strict subset of cidr ${formatCidr(cidr)}`);
    }
    except.push(formatCidr(inner));
  });
  if (report.rejected) return undefined;
  return { kind: 'cidr', cidr: formatCidr(cidr), except };
}

/** A CIDR as the API server takes it: host bits may be set (they are ignored, with a warning). */
export function readCidr(text: string, path: FieldPath, report: Reporter): Cidr | undefined {
  const [addressText, prefixText, ...rest] = text.split('/');
  const address = addressText === undefined ? undefined : parseAddress(addressText);
  const bits = address?.family === 4 ? 32 : 128;
  if (!address || rest.length > 0 || prefixText === undefined || !/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    report.reject(path, `${JSON.stringify(text)} is not a valid CIDR (for example 10.0.0.0/16 or fd00::/64)`);
    return undefined;
  }
  const prefixLength = Number(prefixText);
  const size = 1n << BigInt(bits - prefixLength);
  const base = address.value - (address.value % size);
  const cidr: Cidr = { family: address.family, base, prefixLength, size };
  if (base !== address.value) report.warn(path, `${text} has host bits set: read as ${formatCidr(cidr)}`);
  return cidr;
}

function readPort(port: unknown, path: FieldPath, report: Reporter): NetworkPort | undefined {
  if (!isFields(port)) {
    report.reject(path, `must be a mapping with protocol, port and endPort, got ${describe(port)}`);
    return undefined;
  }
  const protocolText = stringAt(port, 'protocol', path, report) ?? 'TCP';
  if (!(PROTOCOLS as readonly string[]).includes(protocolText)) {
    report.reject([...path, 'protocol'], `${JSON.stringify(protocolText)} is not one of ${PROTOCOLS.join(', ')}`);
    return undefined;
  }
  const result: NetworkPort = { protocol: protocolText as Protocol };
  const value = port['port'];
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 1 || value > 65535) {
      report.reject([...path, 'port'], `${value} is not a valid port (1-65535)`);
      return undefined;
    }
    result.port = value;
  } else if (typeof value === 'string') {
    if (!isContainerPortName(value)) {
      report.reject([...path, 'port'], `${JSON.stringify(value)} is neither a port number nor a container port name (IANA_SVC_NAME: at most 15 lower-case letters, digits and '-', with a letter)`);
      return undefined;
    }
    result.port = value;
  } else if (value !== undefined && value !== null) {
    report.reject([...path, 'port'], `must be a port number or a container port name, got ${describe(value)}`);
    return undefined;
  }
  const end = port['endPort'];
  if (end !== undefined && end !== null) {
    if (typeof end !== 'number' || !Number.isInteger(end) || end < 1 || end > 65535) {
      report.reject([...path, 'endPort'], `${describe(end)} is not a valid port (1-65535)`);
      return undefined;
    }
    if (typeof result.port !== 'number') {
      report.reject([...path, 'endPort'], 'may only be set with a numeric port');
      return undefined;
    }
    if (end < result.port) {
      report.reject([...path, 'endPort'], `${end} is less than port ${result.port}`);
      return undefined;
    }
    result.endPort = end;
  }
  return result;
}

// ---- CiliumNetworkPolicy ----

/** Label keys of Cilium's endpoint selectors that name the pod's namespace. */
const CILIUM_NAMESPACE_KEYS = ['io.kubernetes.pod.namespace', 'k8s:io.kubernetes.pod.namespace'];
const CILIUM_INGRESS_PEERS = ['fromEndpoints', 'fromCIDR', 'fromCIDRSet'];
const CILIUM_EGRESS_PEERS = ['toEndpoints', 'toCIDR', 'toCIDRSet'];
const CILIUM_UNREAD = ['fromEntities', 'fromRequires', 'fromGroups', 'fromNodes', 'toEntities', 'toRequires', 'toGroups', 'toNodes', 'toFQDNs', 'toServices', 'icmps'];

/**
 * What `authentication.mode: required` is reported as, in the simulator and in an agent without
 * the tunnel (an agent with --tunnel enforces it and leaves this report out: src/cli/agent.ts).
 */
export const AUTHENTICATION_REPORT =
  'required is enforced only through the node tunnel, by a meshc agent with workload identities and --tunnel (docs/tunnel.md): without them meshc applies this rule without authenticating the peer';

/**
 * A CiliumNetworkPolicy as the seed writes it: endpointSelector, ingress/egress with
 * fromEndpoints/toEndpoints (and CIDR peers), toPorts. `authentication.mode: required` is read
 * (src/agent/tunnel.ts plans the node tunnel from it) and reported (AUTHENTICATION_REPORT). Peers meshc does not read make the rule allow
 * nothing (fail closed), with a warning at the field.
 */
export function readCiliumNetworkPolicy(object: KubeObject): NetworkPolicy | undefined {
  const report = object.report;
  const path = ['spec'];
  if (object.body['specs'] !== undefined) report.warn(['specs'], 'is not read by meshc: write one policy per object under spec');
  const spec = mappingAt(object.body, 'spec', [], report);
  if (spec['nodeSelector'] !== undefined) report.warn([...path, 'nodeSelector'], 'is not applied: meshc selects pods only (this policy selects none)');
  if (spec['endpointSelector'] === undefined || spec['endpointSelector'] === null) {
    report.reject([...path, 'endpointSelector'], 'is required ({} selects every pod of the namespace)');
  }
  const podSelector = ciliumSelector(readSelector(spec, 'endpointSelector', path, report));
  const policy: NetworkPolicy = { kind: 'CiliumNetworkPolicy', meta: object.meta, podSelector: podSelector.pods };
  for (const key of ['ingressDeny', 'egressDeny']) {
    if (spec[key] !== undefined) report.warn([...path, key], 'is not applied: meshc reads allow rules only');
  }
  if (spec['ingress'] !== undefined && spec['ingress'] !== null) policy.ingress = readCiliumRules(spec, 'ingress', CILIUM_INGRESS_PEERS, path, report);
  if (spec['egress'] !== undefined && spec['egress'] !== null) policy.egress = readCiliumRules(spec, 'egress', CILIUM_EGRESS_PEERS, path, report);
  return report.rejected ? undefined : policy;
}

/** A Cilium endpoint selector: namespace labels split off, `k8s:` prefixes dropped. */
function ciliumSelector(selector: LabelSelector): { pods: LabelSelector; namespace?: string } {
  const pods: LabelSelector = { matchLabels: {}, matchExpressions: [] };
  let namespace: string | undefined;
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (CILIUM_NAMESPACE_KEYS.includes(key)) namespace = value;
    else pods.matchLabels[key.replace(/^(k8s|any):/, '')] = value;
  }
  pods.matchExpressions = selector.matchExpressions.map((r) => ({ ...r, key: r.key.replace(/^(k8s|any):/, '') }));
  return namespace === undefined ? { pods } : { pods, namespace };
}

function readCiliumRules(spec: Fields, key: 'ingress' | 'egress', peerKeys: string[], path: FieldPath, report: Reporter): NetworkRule[] {
  const rules: NetworkRule[] = [];
  listAt(spec, key, path, report).forEach((item, index) => {
    const at = [...path, key, index];
    if (!isFields(item)) return report.reject(at, `must be a mapping, got ${describe(item)}`);
    for (const unread of CILIUM_UNREAD) {
      if (item[unread] !== undefined) report.warn([...at, unread], `is not applied by meshc: this rule allows nothing through ${unread}`);
    }
    const written = peerKeys.filter((k) => item[k] !== undefined && item[k] !== null);
    const peers: NetworkPeer[] = [];
    for (const peerKey of written) {
      listAt(item, peerKey, at, report).forEach((entry, i) => {
        const entryPath = [...at, peerKey, i];
        if (peerKey.endsWith('Endpoints')) {
          if (!isFields(entry)) return report.reject(entryPath, `must be an endpoint selector, got ${describe(entry)}`);
          const selector = ciliumSelector(readSelectorAt(entry, entryPath, report));
          const namespaces: LabelSelector | undefined = selector.namespace === undefined ? undefined : { matchLabels: { 'kubernetes.io/metadata.name': selector.namespace }, matchExpressions: [] };
          peers.push(namespaces ? { kind: 'pods', pods: selector.pods, namespaces } : { kind: 'pods', pods: selector.pods });
        } else if (peerKey.endsWith('CIDR')) {
          if (typeof entry !== 'string') return report.reject(entryPath, `must be a CIDR string, got ${describe(entry)}`);
          const cidr = readCidr(entry, entryPath, report);
          if (cidr) peers.push({ kind: 'cidr', cidr: formatCidr(cidr), except: [] });
        } else {
          if (!isFields(entry)) return report.reject(entryPath, `must be a mapping with cidr and except, got ${describe(entry)}`);
          const peer = readIpBlock(entry, entryPath, report);
          if (peer) peers.push(peer);
        }
      });
    }
    const unreadOnly = written.length === 0 && CILIUM_UNREAD.some((k) => item[k] !== undefined);
    const ports = readCiliumPorts(item, at, report);
    const rule: NetworkRule = { peers: written.length === 0 && !unreadOnly ? 'any' : peers, ports };
    const auth = mappingAt(item, 'authentication', at, report);
    const mode = stringAt(auth, 'mode', [...at, 'authentication'], report);
    if (mode === 'required') {
      rule.authentication = 'required';
      report.warn([...at, 'authentication', 'mode'], AUTHENTICATION_REPORT);
    } else if (mode !== undefined && mode !== 'disabled') {
      report.reject([...at, 'authentication', 'mode'], `${JSON.stringify(mode)} is not one of required, disabled`);
    }
    rules.push(rule);
  });
  return rules;
}

function readCiliumPorts(item: Fields, path: FieldPath, report: Reporter): NetworkPort[] | 'all' {
  const toPorts = listAt(item, 'toPorts', path, report);
  if (toPorts.length === 0) return 'all';
  const ports: NetworkPort[] = [];
  toPorts.forEach((entry, index) => {
    const at = [...path, 'toPorts', index];
    if (!isFields(entry)) return report.reject(at, `must be a mapping with ports, got ${describe(entry)}`);
    if (entry['rules'] !== undefined) report.warn([...at, 'rules'], 'is not applied: meshc decides at connect() and enforces no L7 rules (the ports are allowed for every request)');
    const list = listAt(entry, 'ports', at, report);
    if (list.length === 0) ports.push({ protocol: 'TCP' }, { protocol: 'UDP' }, { protocol: 'SCTP' });
    list.forEach((port, i) => {
      const portPath = [...at, 'ports', i];
      if (!isFields(port)) return report.reject(portPath, `must be a mapping with port and protocol, got ${describe(port)}`);
      const protocol = stringAt(port, 'protocol', portPath, report) ?? 'ANY';
      const protocols: Protocol[] = protocol === 'ANY' ? ['TCP', 'UDP', 'SCTP'] : (PROTOCOLS as readonly string[]).includes(protocol) ? [protocol as Protocol] : [];
      if (protocols.length === 0) return report.reject([...portPath, 'protocol'], `${JSON.stringify(protocol)} is not one of TCP, UDP, SCTP, ANY`);
      const text = port['port'];
      let number: number | string | undefined;
      if (typeof text === 'string' && /^[0-9]+$/.test(text)) number = Number(text);
      else if (typeof text === 'number') number = text;
      else if (typeof text === 'string' && isContainerPortName(text)) number = text;
      else if (text !== undefined && text !== null) return report.reject([...portPath, 'port'], `${describe(text)} is neither a port number nor a container port name`);
      if (typeof number === 'number' && (!Number.isInteger(number) || number < 0 || number > 65535)) return report.reject([...portPath, 'port'], `${number} is not a valid port (0-65535)`);
      const end = port['endPort'];
      for (const p of protocols) {
        const read: NetworkPort = { protocol: p };
        if (number !== undefined && number !== 0) read.port = number;
        if (typeof end === 'number' && typeof number === 'number' && end >= number) read.endPort = end;
        ports.push(read);
      }
    });
  });
  return ports;
}

export { EVERYTHING };
