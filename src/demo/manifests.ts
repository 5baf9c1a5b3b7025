// The manifests of `meshc demo`: the seed article's product-api scenario as the agent needs it on
// a node, with fixed ClusterIPs and EndpointSlices for real pod addresses (the agent makes up no
// pods), and the canary route: the seed's header rule (served by the agent's node proxy) or the
// weight-split variant (decided in the kernel). fixtures/demo/ holds the starting state, checked
// against this by test/demo/manifests.test.ts.
import { stringify } from 'yaml';

export const DEMO_NAMESPACE = 'default';
export const SERVICE_PORT = 80;
export const TARGET_PORT = 8080;

/** ClusterIPs: they exist only on the loopback of the demo's own network namespace. */
export const CLUSTER_IPS = { 'product-api': '10.96.100.10', 'product-api-v1': '10.96.100.11', 'product-api-v2': '10.96.100.12' } as const;

export type Version = 'v1' | 'v2';

export interface DemoPod {
  name: string;
  version: Version;
  ip: string;
}

/** Every pod the demo may run, in scale-up order per version (names as a Deployment makes them). */
export const PODS: DemoPod[] = [
  { name: 'product-api-v1-6d8f5c7b9-4xk2p', version: 'v1', ip: '10.244.1.11' },
  { name: 'product-api-v1-6d8f5c7b9-9qmzt', version: 'v1', ip: '10.244.1.12' },
  { name: 'product-api-v1-6d8f5c7b9-h7w3c', version: 'v1', ip: '10.244.1.13' },
  { name: 'product-api-v2-84b6d9f4c-tr5vn', version: 'v2', ip: '10.244.2.21' },
  { name: 'product-api-v2-84b6d9f4c-z8j6d', version: 'v2', ip: '10.244.2.22' },
];

export interface DemoState {
  /** HTTPRoute backendRef weights of product-api-v1 and product-api-v2. */
  weights: Record<Version, number>;
  /** Replicas per version: the first N pods of PODS with that version are up and ready. */
  replicas: Record<Version, number>;
  /** The seed's header rule first (X-Canary-User: true -> v2), before the weighted rule. */
  headerRule?: boolean;
}

/** The seed's starting point: 90/10 weights, v1 with 3 pods, v2 with 1. */
export const INITIAL_STATE: DemoState = { weights: { v1: 90, v2: 10 }, replicas: { v1: 3, v2: 1 } };

export function runningPods(state: DemoState): DemoPod[] {
  const byVersion = (v: Version) => PODS.filter((p) => p.version === v);
  for (const v of ['v1', 'v2'] as const) {
    const max = byVersion(v).length;
    if (!Number.isInteger(state.replicas[v]) || state.replicas[v] < 0 || state.replicas[v] > max) {
      throw new Error(`demo state: replicas.${v} must be an integer from 0 to ${max}, got ${state.replicas[v]}`);
    }
  }
  return [...byVersion('v1').slice(0, state.replicas.v1), ...byVersion('v2').slice(0, state.replicas.v2)];
}

function service(name: keyof typeof CLUSTER_IPS, selector: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: DEMO_NAMESPACE },
    spec: {
      type: 'ClusterIP',
      clusterIP: CLUSTER_IPS[name],
      ports: [{ port: SERVICE_PORT, targetPort: TARGET_PORT }],
      selector,
    },
  };
}

/** The slice the EndpointSlice controller would write for a Service selecting these pods. */
function endpointSlice(serviceName: string, pods: DemoPod[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${serviceName}-demo`, namespace: DEMO_NAMESPACE, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: [{ name: '', port: TARGET_PORT, protocol: 'TCP' }],
    endpoints: pods.map((pod) => ({
      addresses: [pod.ip],
      conditions: { ready: true },
      targetRef: { kind: 'Pod', namespace: DEMO_NAMESPACE, name: pod.name },
    })),
  };
}

/** The seed's rule: requests with X-Canary-User: true go to v2. */
const HEADER_RULE = {
  matches: [{ headers: [{ type: 'Exact', name: 'X-Canary-User', value: 'true' }] }],
  backendRefs: [{ kind: 'Service', name: 'product-api-v2', port: SERVICE_PORT, weight: 100 }],
};

function route(weights: DemoState['weights'], headerRule: boolean) {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'product-api-routing', namespace: DEMO_NAMESPACE },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'product-api', port: SERVICE_PORT }],
      rules: [
        ...(headerRule ? [HEADER_RULE] : []),
        {
          backendRefs: [
            { kind: 'Service', name: 'product-api-v1', port: SERVICE_PORT, weight: weights.v1 },
            { kind: 'Service', name: 'product-api-v2', port: SERVICE_PORT, weight: weights.v2 },
          ],
        },
      ],
    },
  };
}

const BANNER = '# meshc demo manifests (src/demo/manifests.ts): the product-api canary, weight-split variant.\n';

/** File name → YAML text of every manifest for one state. */
export function demoManifests(state: DemoState): Map<string, string> {
  for (const v of ['v1', 'v2'] as const) {
    if (!Number.isInteger(state.weights[v]) || state.weights[v] < 0 || state.weights[v] > 1_000_000) {
      throw new Error(`demo state: weights.${v} must be an integer from 0 to 1000000, got ${state.weights[v]}`);
    }
  }
  const pods = runningPods(state);
  const files = new Map<string, string>();
  const put = (file: string, object: unknown) => files.set(file, BANNER + stringify(object));
  put('product-api-svc.yaml', service('product-api', { app: 'product-api' }));
  put('product-api-v1-svc.yaml', service('product-api-v1', { app: 'product-api', version: 'v1' }));
  put('product-api-v2-svc.yaml', service('product-api-v2', { app: 'product-api', version: 'v2' }));
  put('product-api-endpointslice.yaml', endpointSlice('product-api', pods));
  put('product-api-v1-endpointslice.yaml', endpointSlice('product-api-v1', pods.filter((p) => p.version === 'v1')));
  put('product-api-v2-endpointslice.yaml', endpointSlice('product-api-v2', pods.filter((p) => p.version === 'v2')));
  put('product-api-httproute.yaml', route(state.weights, state.headerRule ?? false));
  return files;
}
