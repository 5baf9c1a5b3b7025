// Upstream NetworkPolicy semantics, table-driven, through the one decision (assembly/netpol/
// decide.ts) as Wasm: model -> tables -> policy.wasm. The cases follow the Kubernetes e2e
// network-policy suite (test/e2e/network/netpol) on its x/y/z cluster (test/netpol/cluster.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadPolicyWasm } from '../../src/wasm/load.ts';
import type { PolicyInstance } from '../../src/wasm/instance.ts';
import { compileNetpol } from '../../src/netpol/tables.ts';
import { decideNetwork, loadNetpol } from '../../src/netpol/wasm.ts';
import type { Protocol } from '../../src/model/types.ts';
import { NP_ID_WORLD } from '../../src/tables/layouts.ts';
import { loadCluster, podIP, podIPv6 } from './cluster.ts';

const test = suite('netpol semantics');
let wasm: PolicyInstance;
test.before(async () => {
  wasm = await loadPolicyWasm();
});

/** `from -> to port[/PROTO] verdict[ policy]`: from is ns/pod or `outside`; to is ns/pod, ns/pod@6 or an address. */
type Check = string;

interface Case {
  name: string;
  policies: string;
  checks: Check[];
}

function np(name: string, namespace: string, spec: string): string {
  return `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec:\n${spec.replace(/^/gm, '  ')}`;
}

const cases: Case[] = [
  {
    name: 'no policy: everything is allowed',
    policies: '',
    checks: ['x/a -> y/b 80 allow', 'x/a -> 1.2.3.4 443 allow', 'outside -> x/a 80 allow'],
  },
  {
    name: 'default deny ingress in x: nothing reaches x, x still reaches out',
    policies: np('deny-ingress', 'x', 'podSelector: {}\npolicyTypes: [Ingress]'),
    checks: ['y/a -> x/a 80 deny:ingress x/deny-ingress', 'x/b -> x/a 80 deny:ingress x/deny-ingress', 'x/a -> y/a 80 allow', 'outside -> x/c 81 deny:ingress'],
  },
  {
    name: 'default deny egress in x',
    policies: np('deny-egress', 'x', 'podSelector: {}\npolicyTypes: [Egress]'),
    checks: ['x/a -> y/a 80 deny:egress x/deny-egress', 'x/a -> 8.8.8.8 53/UDP deny:egress', 'y/a -> x/a 80 allow'],
  },
  {
    name: 'egress without policyTypes: spec.egress makes it Ingress and Egress',
    policies: np('both', 'x', 'podSelector: {matchLabels: {pod: a}}\negress: [{}]'),
    checks: ['x/a -> y/a 80 allow x/both', 'y/a -> x/a 80 deny:ingress x/both', 'y/a -> x/b 80 allow'],
  },
  {
    name: 'allow all ingress: an empty rule',
    policies: np('allow-all', 'x', 'podSelector: {}\ningress: [{}]'),
    checks: ['y/a -> x/a 80 allow x/allow-all', 'outside -> x/a 81 allow x/allow-all'],
  },
  {
    name: 'allow from a namespace',
    policies: np('from-y', 'x', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from: [{namespaceSelector: {matchLabels: {ns: y}}}]'),
    checks: ['y/a -> x/a 80 allow x/from-y', 'y/c -> x/a 81 allow', 'z/a -> x/a 80 deny:ingress x/from-y', 'x/b -> x/a 80 deny:ingress', 'z/a -> x/b 80 allow'],
  },
  {
    name: 'allow from a namespace by kubernetes.io/metadata.name (set on every namespace)',
    policies: np('from-z', 'x', 'podSelector: {}\ningress:\n- from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}}]'),
    checks: ['z/b -> x/a 80 allow', 'y/b -> x/a 80 deny:ingress'],
  },
  {
    name: 'allow from pods of the same namespace only (podSelector alone)',
    policies: np('from-b', 'x', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from: [{podSelector: {matchLabels: {pod: b}}}]'),
    checks: ['x/b -> x/a 80 allow x/from-b', 'y/b -> x/a 80 deny:ingress', 'x/c -> x/a 80 deny:ingress'],
  },
  {
    name: 'allow from pods in a namespace (both selectors in one peer: AND)',
    policies: np('from-y-b', 'x', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]'),
    checks: ['y/b -> x/a 80 allow', 'y/a -> x/a 80 deny:ingress', 'z/b -> x/a 80 deny:ingress', 'x/b -> x/a 80 deny:ingress'],
  },
  {
    name: 'two peers in one rule: OR',
    policies: np('or', 'x', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from: [{namespaceSelector: {matchLabels: {ns: y}}}, {podSelector: {matchLabels: {pod: b}}}]'),
    checks: ['y/a -> x/a 80 allow', 'x/b -> x/a 80 allow', 'z/b -> x/a 80 deny:ingress'],
  },
  {
    name: 'matchExpressions: namespaces NotIn (x), pods In (a, b)',
    policies: np('expr', 'x', 'podSelector: {}\ningress:\n- from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}, podSelector: {matchExpressions: [{key: pod, operator: In, values: [a, b]}]}}]'),
    checks: ['y/a -> x/c 80 allow', 'z/b -> x/c 80 allow', 'z/c -> x/c 80 deny:ingress', 'x/a -> x/c 80 deny:ingress'],
  },
  {
    name: 'ports: a numbered port, by protocol',
    policies: np('port-81', 'x', 'podSelector: {}\ningress:\n- ports: [{port: 81}]'),
    checks: ['y/a -> x/a 81 allow', 'y/a -> x/a 80 deny:ingress', 'y/a -> x/a 81/UDP deny:ingress'],
  },
  {
    name: 'ports: a named port (ingress: the selected pod\'s port)',
    policies: np('named', 'x', 'podSelector: {}\ningress:\n- ports: [{port: serve-80-tcp}]'),
    checks: ['y/a -> x/a 80 allow', 'y/a -> x/a 81 deny:ingress', 'y/a -> x/a 80/UDP deny:ingress'],
  },
  {
    name: 'ports: a named UDP port',
    policies: np('named-udp', 'x', 'podSelector: {}\ningress:\n- ports: [{port: serve-80-udp, protocol: UDP}]'),
    checks: ['y/a -> x/a 80/UDP allow', 'y/a -> x/a 80 deny:ingress'],
  },
  {
    name: 'ports: a named port in egress is the destination pod\'s, and no address outside has it',
    policies: np('named-egress', 'x', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- ports: [{port: serve-81-tcp}]'),
    checks: ['x/a -> y/b 81 allow', 'x/a -> y/b 80 deny:egress', 'x/a -> 1.1.1.1 81 deny:egress'],
  },
  {
    name: 'ports: endPort makes a range',
    policies: np('range', 'x', 'podSelector: {}\ningress:\n- ports: [{port: 80, endPort: 81, protocol: TCP}]'),
    checks: ['y/a -> x/a 80 allow', 'y/a -> x/a 81 allow', 'y/a -> x/a 82 deny:ingress', 'y/a -> x/a 79 deny:ingress'],
  },
  {
    name: 'a rule with peers and ports: both must match',
    policies: np('both', 'x', 'podSelector: {}\ningress:\n- from: [{namespaceSelector: {matchLabels: {ns: y}}}]\n  ports: [{port: 80}]'),
    checks: ['y/a -> x/a 80 allow', 'y/a -> x/a 81 deny:ingress', 'z/a -> x/a 80 deny:ingress'],
  },
  {
    name: 'ipBlock with except, ingress (source addresses of pods)',
    policies: np('block', 'x', 'podSelector: {}\ningress:\n- from: [{ipBlock: {cidr: 10.0.2.0/24, except: [10.0.2.2/32]}}]'),
    checks: ['y/a -> x/a 80 allow', 'y/c -> x/a 80 allow', 'y/b -> x/a 80 deny:ingress', 'z/a -> x/a 80 deny:ingress'],
  },
  {
    name: 'egress to a CIDR, with except',
    policies: np('to-cidr', 'x', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}]'),
    checks: ['x/a -> 192.168.7.9 443 allow x/to-cidr', 'x/a -> 192.168.1.9 443 deny:egress x/to-cidr', 'x/a -> 10.1.0.1 443 deny:egress', 'x/a -> y/a 80 deny:egress', 'x/b -> 192.168.1.9 443 allow'],
  },
  {
    name: 'egress to a pod by ipBlock /32 (as the e2e suite does)',
    policies: np('to-pod', 'x', `podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to: [{ipBlock: {cidr: ${podIP('y', 'b')}/32}}]`),
    checks: ['x/a -> y/b 80 allow', 'x/a -> y/c 80 deny:egress'],
  },
  {
    name: 'nested ipBlocks of two policies: the longest prefix decides membership in both',
    policies: [
      np('wide', 'x', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to: [{ipBlock: {cidr: 172.16.0.0/12, except: [172.16.5.0/24]}}]\n  ports: [{port: 443}]'),
      np('narrow', 'x', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to: [{ipBlock: {cidr: 172.16.5.128/25}}]\n  ports: [{port: 80}]'),
    ].join('\n---\n'),
    checks: ['x/a -> 172.16.5.200 80 allow x/narrow', 'x/a -> 172.16.5.200 443 deny:egress', 'x/a -> 172.16.5.1 80 deny:egress', 'x/a -> 172.17.0.1 443 allow x/wide', 'x/a -> 172.17.0.1 80 deny:egress'],
  },
  {
    name: 'IPv6: ipBlock and pod addresses',
    policies: np('v6', 'x', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to: [{ipBlock: {cidr: "fd00::20/124", except: ["fd00::22/128"]}}]'),
    checks: ['x/a -> y/a@6 80 allow', 'x/a -> y/b@6 80 deny:egress', 'x/a -> z/a@6 80 deny:egress', 'x/a -> fd00::2f 80 allow', 'x/a -> 2001:db8::1 80 deny:egress'],
  },
  {
    name: 'multiple policies combine: the union of their rules',
    policies: [
      np('from-y', 'x', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from: [{namespaceSelector: {matchLabels: {ns: y}}}]'),
      np('from-z-81', 'x', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from: [{namespaceSelector: {matchLabels: {ns: z}}}]\n  ports: [{port: 81}]'),
    ].join('\n---\n'),
    checks: ['y/a -> x/a 80 allow x/from-y', 'z/a -> x/a 81 allow x/from-z-81', 'z/a -> x/a 80 deny:ingress x/from-y', 'x/b -> x/a 80 deny:ingress'],
  },
  {
    name: 'a deny-all beside an allow: the allow still applies',
    policies: [np('deny-all', 'x', 'podSelector: {}\npolicyTypes: [Ingress]'), np('allow-b', 'x', 'podSelector: {matchLabels: {pod: a}}\ningress:\n- from: [{podSelector: {matchLabels: {pod: b}}}]')].join('\n---\n'),
    checks: ['x/b -> x/a 80 allow x/allow-b', 'x/c -> x/a 80 deny:ingress x/allow-b', 'x/b -> x/c 80 deny:ingress x/deny-all'],
  },
  {
    name: 'policies on both ends: egress of the client and ingress of the destination must both allow',
    policies: [
      np('egress-to-y', 'x', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to: [{namespaceSelector: {matchLabels: {ns: y}}}]'),
      np('ingress-from-x-80', 'y', 'podSelector: {matchLabels: {pod: b}}\ningress:\n- from: [{namespaceSelector: {matchLabels: {ns: x}}}]\n  ports: [{port: 80}]'),
    ].join('\n---\n'),
    checks: ['x/a -> y/b 80 allow x/egress-to-y', 'x/a -> y/b 81 deny:ingress y/ingress-from-x-80', 'x/a -> z/b 80 deny:egress x/egress-to-y', 'x/b -> y/b 80 allow', 'z/a -> y/b 80 deny:ingress'],
  },
  {
    name: 'a policy selects pods of its own namespace only',
    policies: np('deny-a', 'y', 'podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Ingress]'),
    checks: ['x/b -> y/a 80 deny:ingress', 'x/b -> x/a 80 allow', 'x/b -> z/a 80 allow'],
  },
  {
    name: 'CiliumNetworkPolicy as the seed writes it: fromEndpoints + toPorts',
    policies: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-mtls-enforcement, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: a}}
  ingress:
  - fromEndpoints: [{matchLabels: {pod: b}}]
    toPorts: [{ports: [{port: "80", protocol: TCP}]}]
    authentication: {mode: required}`,
    checks: ['x/b -> x/a 80 allow x/api-mtls-enforcement', 'x/b -> x/a 81 deny:ingress', 'x/c -> x/a 80 deny:ingress', 'y/b -> x/a 80 deny:ingress', 'x/b -> x/c 80 allow'],
  },
  {
    name: 'CiliumNetworkPolicy: a namespace label in fromEndpoints, egress toCIDRSet',
    policies: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: c, namespace: x}
spec:
  endpointSelector: {matchLabels: {"k8s:pod": c}}
  ingress:
  - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": z, pod: a}}]
  egress:
  - toCIDRSet: [{cidr: 10.0.0.0/16, except: [10.0.3.0/24]}]
    toPorts: [{ports: [{port: "80", protocol: ANY}]}]`,
    checks: ['z/a -> x/c 81 allow', 'x/a -> x/c 80 deny:ingress', 'x/c -> y/a 80/UDP allow', 'x/c -> z/a 80 deny:egress', 'x/c -> y/a 81 deny:egress'],
  },
];

const NP_NAMES = /^(\S+) -> (\S+) (\d+)(?:\/(TCP|UDP|SCTP))? (allow|deny:egress|deny:ingress)(?: (\S+))?$/;

for (const c of cases) {
  test(c.name, () => {
    const model = loadCluster(c.policies);
    const errors = model.diagnostics.filter((d) => d.severity === 'error');
    assert.equal(errors, [], 'the policies load');
    const tables = compileNetpol(model);
    loadNetpol(wasm, tables);
    for (const check of c.checks) {
      const m = NP_NAMES.exec(check);
      if (!m) throw new Error(`bad check ${check}`);
      const [, from, to, port, protocol, expected, policy] = m;
      const client = from === 'outside' ? { identity: 0, cidr: NP_ID_WORLD } : tables.pods.get(from!)!;
      assert.ok(client, `${from} is a pod`);
      const v6 = to!.endsWith('@6');
      const name = to!.replace(/@6$/, '');
      const ip = name.includes('/') ? (v6 ? podIPv6 : podIP)(...(name.split('/') as [string, string])) : name;
      const verdict = decideNetwork(wasm, { client: client.identity, clientCidr: client.cidr, ip, port: Number(port), protocol: (protocol ?? 'TCP') as Protocol });
      const got = verdict.allowed ? 'allow' : `deny:${verdict.direction}`;
      assert.is(got, expected, check);
      if (policy) {
        const deciding = tables.policies.find((p) => p.id === verdict.policy);
        assert.is(deciding ? `${deciding.policy.meta.namespace}/${deciding.policy.meta.name}` : 'none', policy, `${check}: deciding policy`);
      }
    }
  });
}

test.run();
