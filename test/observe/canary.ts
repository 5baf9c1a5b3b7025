// The seed's header canary as manifests, shared by the observe tests: Service web (ClusterIP
// 10.96.71.1) routed by HTTPRoute web (rule 0: X-Canary-User: true -> web-v2, rule 1: the rest ->
// web-v1), pods web-v1-a, web-v1-b (10.244.8.1, .2), web-v2-a (10.244.8.3), and a client pod.
import { parseAllDocuments } from 'yaml';

export const WEB_VIP = '10.96.71.1';
export const V1 = ['10.244.8.1', '10.244.8.2'];
export const V2 = ['10.244.8.3'];
// The l7-live lab's pod-side veth address: a client there reaches the node from it.
export const CLIENT_IP = '172.31.250.2';
export const CLIENT_UID = '0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';

function pod(name: string, ip: string, uid: string, app: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, uid: ${uid}, labels: { app: ${app} } }
spec: { nodeName: node-1, containers: [{ name: app, image: app }] }
status: { phase: Running, podIP: ${ip}, conditions: [{ type: Ready, status: "True" }] }
`;
}

function backend(name: string, vip: string, pods: [string, string][]): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec: { clusterIP: ${vip}, ports: [{ name: http, port: 80, targetPort: 8080 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: default, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints: ${JSON.stringify(pods.map(([p, ip]) => ({ addresses: [ip], nodeName: 'node-1', targetRef: { kind: 'Pod', name: p, namespace: 'default' }, conditions: { ready: true, serving: true, terminating: false } })))}
`;
}

export const CANARY_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, port: 80 }]
  rules:
  - matches: [{ headers: [{ type: Exact, name: X-Canary-User, value: "true" }] }]
    backendRefs: [{ name: web-v2, port: 80 }]
  - backendRefs: [{ name: web-v1, port: 80 }]
`;

export const CANARY_MANIFESTS = [
  pod('web-v1-a', V1[0]!, '11111111-1111-4111-8111-111111111111', 'web-v1'),
  pod('web-v1-b', V1[1]!, '22222222-2222-4222-8222-222222222222', 'web-v1'),
  pod('web-v2-a', V2[0]!, '33333333-3333-4333-8333-333333333333', 'web-v2'),
  pod('client', CLIENT_IP, CLIENT_UID, 'client'),
  `apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec: { clusterIP: ${WEB_VIP}, ports: [{ name: http, port: 80, targetPort: 8080 }] }
`,
  backend('web-v1', '10.96.71.2', [['web-v1-a', V1[0]!], ['web-v1-b', V1[1]!]]),
  backend('web-v2', '10.96.71.3', [['web-v2-a', V2[0]!]]),
  CANARY_ROUTE,
].join('---\n');

export function canaryObjects(): unknown[] {
  return parseAllDocuments(CANARY_MANIFESTS).map((d) => d.toJS()).filter(Boolean);
}
