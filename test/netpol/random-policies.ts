// Random clusters with random network policies for the differential test: namespaces with random
// labels, pods (IPv4 and IPv6) with random labels and named ports, NetworkPolicies with random
// selectors, peers (pods, namespaces, both, ipBlocks with excepts, nested), ports (numbers, ranges,
// names) and types; and random decisions that hit pods, prefixes and their edges.
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import type { Model, Protocol } from '../../src/model/types.ts';
import type { NetpolTables } from '../../src/netpol/tables.ts';
import { formatAddress, parseCidr } from '../../src/model/ip.ts';
import { Rng } from '../kernel/random-model.ts';

export { Rng };

const APPS = ['web', 'api', 'db', 'cache'];
const TIERS = ['front', 'back'];
const PORT_NAMES = ['http', 'grpc', 'metrics', 'dns'];
const PROTOCOLS: Protocol[] = ['TCP', 'UDP', 'SCTP'];
const BLOCKS = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.128/25', '192.168.0.0/16', '0.0.0.0/0', '172.16.0.0/12', 'fd00::/8', 'fd00:1::/32', 'fd00:1::/64', '::/0'];

function labelsOf(rng: Rng): Record<string, string> {
  const labels: Record<string, string> = {};
  if (rng.chance(0.9)) labels['app'] = rng.pick(APPS);
  if (rng.chance(0.5)) labels['tier'] = rng.pick(TIERS);
  return labels;
}

function selector(rng: Rng): string {
  const roll = rng.int(4);
  if (roll === 0) return '{}';
  if (roll === 1) return `{matchLabels: {app: ${rng.pick(APPS)}}}`;
  if (roll === 2) return `{matchExpressions: [{key: tier, operator: ${rng.pick(['In', 'NotIn'])}, values: [${rng.pick(TIERS)}]}]}`;
  return `{matchExpressions: [{key: tier, operator: ${rng.pick(['Exists', 'DoesNotExist'])}}], matchLabels: {app: ${rng.pick(APPS)}}}`;
}

function subPrefix(rng: Rng, cidrText: string): string | undefined {
  const cidr = parseCidr(cidrText)!;
  const bits = cidr.family === 4 ? 32 : 128;
  if (cidr.prefixLength >= bits - 1) return undefined;
  const length = cidr.prefixLength + 1 + rng.int(Math.min(bits - cidr.prefixLength - 1, 24));
  const span = 1n << BigInt(bits - cidr.prefixLength);
  const offset = (BigInt(rng.u32()) * 0x100000000n + BigInt(rng.u32())) % span;
  const size = 1n << BigInt(bits - length);
  const base = cidr.base + offset - (offset % size);
  return `${formatAddress({ family: cidr.family, value: base })}/${length}`;
}

function peer(rng: Rng): string {
  const roll = rng.int(5);
  if (roll === 0) return `{podSelector: ${selector(rng)}}`;
  if (roll === 1) return `{namespaceSelector: ${rng.chance(0.5) ? `{matchLabels: {team: ${rng.pick(['a', 'b'])}}}` : '{}'}}`;
  if (roll === 2) return `{namespaceSelector: {matchLabels: {team: ${rng.pick(['a', 'b'])}}}, podSelector: ${selector(rng)}}`;
  const block = rng.pick(BLOCKS);
  const except = [0, 1, 2].slice(0, rng.int(3)).map(() => subPrefix(rng, block)).filter((e): e is string => e !== undefined);
  return `{ipBlock: {cidr: "${block}", except: [${[...new Set(except)].map((e) => `"${e}"`).join(', ')}]}}`;
}

function port(rng: Rng): string {
  const protocol = rng.pick(PROTOCOLS);
  const roll = rng.int(4);
  if (roll === 0) return `{protocol: ${protocol}}`;
  if (roll === 1) return `{protocol: ${protocol}, port: ${rng.pick(PORT_NAMES)}}`;
  const first = 1 + rng.int(100);
  if (roll === 2) return `{protocol: ${protocol}, port: ${first}}`;
  return `{protocol: ${protocol}, port: ${first}, endPort: ${first + rng.int(20)}}`;
}

function rules(rng: Rng, peersKey: 'from' | 'to'): string {
  const out: string[] = [];
  for (let i = rng.int(4); i > 0; i--) {
    const parts: string[] = [];
    if (rng.chance(0.8)) parts.push(`${peersKey}: [${Array.from({ length: 1 + rng.int(3) }, () => peer(rng)).join(', ')}]`);
    if (rng.chance(0.7)) parts.push(`ports: [${Array.from({ length: 1 + rng.int(3) }, () => port(rng)).join(', ')}]`);
    out.push(`{${parts.join(', ')}}`);
  }
  return `[${out.join(', ')}]`;
}

export function randomPolicyModel(rng: Rng): Model {
  const docs: string[] = [];
  const namespaces = ['n0', 'n1', 'n2', 'n3'].slice(0, 2 + rng.int(3));
  let n = 0;
  for (const ns of namespaces) {
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}, labels: {team: ${rng.pick(['a', 'b'])}}}`);
    for (let i = 2 + rng.int(8); i > 0; i--) {
      n++;
      const labels = Object.entries(labelsOf(rng)).map(([k, v]) => `${k}: ${v}`).join(', ');
      const ports = PORT_NAMES.filter(() => rng.chance(0.5)).map((name) => `{name: ${name}, containerPort: ${1 + rng.int(100)}, protocol: ${rng.pick(PROTOCOLS)}}`);
      const v4 = rng.chance(0.5) ? `10.1.2.${n}` : `10.${rng.int(3)}.${rng.int(4)}.${n}`;
      docs.push(`apiVersion: v1\nkind: Pod\nmetadata: {name: p${n}, namespace: ${ns}, labels: {${labels}}}\nspec: {containers: [{name: c, image: i, ports: [${ports.join(', ')}]}]}\nstatus: {podIPs: [{ip: ${v4}}, {ip: "fd00:1::${n.toString(16)}"}]}`);
    }
  }
  for (let i = rng.int(12); i > 0; i--) {
    const types = rng.pick([['Ingress'], ['Egress'], ['Ingress', 'Egress'], []]);
    const spec = [`podSelector: ${selector(rng)}`];
    if (types.length > 0) spec.push(`policyTypes: [${types.join(', ')}]`);
    if (types.length === 0 || types.includes('Ingress')) spec.push(`ingress: ${rules(rng, 'from')}`);
    if (types.includes('Egress') || (types.length === 0 && rng.chance(0.5))) spec.push(`egress: ${rules(rng, 'to')}`);
    docs.push(`apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np${i}, namespace: ${rng.pick(namespaces)}}\nspec:\n  ${spec.join('\n  ')}`);
  }
  const model = buildModel(parseManifests(docs.join('\n---\n'), 'random.yaml'), { synthesize: false });
  const errors = model.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(`random model: ${errors[0]!.message} (${errors[0]!.field})`);
  return model;
}

export interface NetDecisionInput {
  client: number;
  clientCidr: number;
  ip: string;
  port: number;
  protocol: Protocol;
}

/** A random decision: clients are pods, outside processes or unknown ids; destinations pods, prefixes, edges. */
export function randomDecision(rng: Rng, model: Model, tables: NetpolTables): NetDecisionInput {
  const pods = [...tables.pods.values()];
  const cidrs = [...tables.identities.values()].filter((i) => i.kind === 'cidr').map((i) => i.cidr);
  const client = rng.chance(0.85) && pods.length > 0 ? rng.pick(pods) : { identity: rng.chance(0.5) ? 0 : rng.int(100), cidr: rng.chance(0.5) ? 1 : rng.int(100) };
  const roll = rng.int(10);
  let ip: string;
  if (roll < 5) {
    const pod = rng.pick([...model.pods.values()]);
    ip = rng.pick(pod.ips);
  } else if (roll < 9 && cidrs.length > 0) {
    const cidr = parseCidr(rng.pick(cidrs))!;
    const bits = cidr.family === 4 ? 32 : 128;
    const edge = rng.int(4);
    const value = edge === 0 ? cidr.base : edge === 1 ? cidr.base + cidr.size - 1n : edge === 2 ? (cidr.base + cidr.size) % (1n << BigInt(bits)) : cidr.base + ((BigInt(rng.u32()) << 32n | BigInt(rng.u32())) % cidr.size);
    ip = formatAddress({ family: cidr.family, value });
  } else {
    ip = rng.chance(0.5) ? `${rng.int(256)}.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}` : `fd00:${rng.int(4).toString(16)}::${rng.int(65536).toString(16)}`;
  }
  const port = rng.chance(0.9) ? rng.int(125) : rng.int(65536);
  return { client: client.identity, clientCidr: client.cidr, ip, port, protocol: rng.pick(PROTOCOLS) };
}
