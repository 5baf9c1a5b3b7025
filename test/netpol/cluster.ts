// The test cluster of the network policy tests, after the Kubernetes e2e network-policy suite:
// namespaces x, y, z (labelled ns=<name>), each with pods a, b, c (label pod=<name>) serving on
// TCP 80 (named serve-80-tcp), TCP 81 (serve-81-tcp) and UDP 80 (serve-80-udp).
// Pod addresses: 10.0.<ns 1-3>.<pod 1-3>, and fd00::<ns><pod> for the IPv6 cases.
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import type { Model } from '../../src/model/types.ts';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const PODS = ['a', 'b', 'c'] as const;

export function podIP(namespace: string, pod: string): string {
  return `10.0.${NAMESPACES.indexOf(namespace as 'x') + 1}.${PODS.indexOf(pod as 'a') + 1}`;
}

export function podIPv6(namespace: string, pod: string): string {
  return `fd00::${NAMESPACES.indexOf(namespace as 'x') + 1}${PODS.indexOf(pod as 'a') + 1}`;
}

export function clusterManifests(): string {
  const docs: string[] = [];
  for (const ns of NAMESPACES) {
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}, labels: {ns: ${ns}}}`);
    for (const pod of PODS) {
      docs.push(`apiVersion: v1
kind: Pod
metadata: {name: ${pod}, namespace: ${ns}, labels: {pod: ${pod}}}
spec:
  containers:
  - name: c
    image: agnhost
    ports:
    - {name: serve-80-tcp, containerPort: 80, protocol: TCP}
    - {name: serve-81-tcp, containerPort: 81, protocol: TCP}
    - {name: serve-80-udp, containerPort: 80, protocol: UDP}
status:
  podIPs: [{ip: ${podIP(ns, pod)}}, {ip: "${podIPv6(ns, pod)}"}]`);
    }
  }
  return docs.join('\n---\n');
}

export function loadCluster(policies: string): Model {
  const text = [clusterManifests(), policies].filter(Boolean).join('\n---\n');
  return buildModel(parseManifests(text, 'cluster.yaml'), { synthesize: false });
}
