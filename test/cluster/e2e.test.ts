// meshc agent on every node of a real control plane (etcd, kube-apiserver, kube-controller-manager
// from test/cluster/components), as deploy/'s ServiceAccount under the RBAC authorizer: objects
// created, changed and deleted through the API reach every node's maps, and connections from
// pods on every node follow them. EndpointSlices are the real controller's, from pods that run.
import * as assert from 'uvu/assert';
import { clusterSuite } from './suite.ts';
import { reached, route, service, untilEveryNode } from './objects.ts';
import type { TestCluster } from './cluster.ts';

const CLIENTS = ['client-1', 'client-2', 'client-3'];

async function clients(cluster: TestCluster): Promise<void> {
  await Promise.all(CLIENTS.map((name, i) => cluster.runPod('default', name, { node: `node-${i + 1}`, labels: { app: 'client' } })));
}

clusterSuite('meshc agent against a real API server, three nodes', { nodes: 3 }, (test, started) => {
  test('Services, EndpointSlices and HTTPRoutes (v1 and v1beta1) created, changed and deleted reach every node, and connections follow', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    await clients(cluster);
    await Promise.all([
      cluster.runPod('default', 'web-1', { node: 'node-2', labels: { app: 'web' } }),
      cluster.runPod('default', 'web-2', { node: 'node-3', labels: { app: 'web' } }),
      cluster.runPod('default', 'canary-1', { node: 'node-1', labels: { app: 'web', track: 'canary' } }),
      cluster.runPod('default', 'other-1', { node: 'node-3', labels: { app: 'other' } }),
    ]);
    const web = (await cp.create(service('default', 'web', { app: 'web' }))).spec.clusterIP;
    await untilEveryNode(cluster, CLIENTS, web, 80, ['canary-1', 'web-1', 'web-2'], 'created Service, its EndpointSlice from the controller');

    await cp.replace(service('default', 'web', { app: 'web', track: 'canary' }));
    await untilEveryNode(cluster, CLIENTS, web, 80, ['canary-1'], 'changed Service selector');
    await cp.replace(service('default', 'web', { app: 'web' }));
    await untilEveryNode(cluster, CLIENTS, web, 80, ['canary-1', 'web-1', 'web-2'], 'selector back');

    await cp.remove('v1', 'Pod', 'default', 'canary-1');
    await untilEveryNode(cluster, CLIENTS, web, 80, ['web-1', 'web-2'], 'a deleted pod leaves the slice');

    const other = (await cp.create(service('default', 'other', { app: 'other' }))).spec.clusterIP;
    await untilEveryNode(cluster, CLIENTS, other, 80, ['other-1'], 'second Service');
    // Created through v1beta1, read by meshc through v1; weight left to the CRD's default (1).
    await cp.create(route('default', 'to-other', 'web', [{ name: 'other', port: 80 }], 'v1beta1'));
    const stored = await cp.admin.get('/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/to-other');
    assert.is(stored.spec.rules[0].backendRefs[0].weight, 1, 'the CRD defaults the weight');
    assert.equal(stored.spec.rules[0].matches, [{ path: { type: 'PathPrefix', value: '/' } }], 'the CRD defaults the match');
    await untilEveryNode(cluster, CLIENTS, web, 80, ['other-1'], 'created HTTPRoute (v1beta1)');
    await cp.replace(route('default', 'to-other', 'web', [{ name: 'web', port: 80, weight: 1 }]));
    await untilEveryNode(cluster, CLIENTS, web, 80, ['web-1', 'web-2'], 'changed HTTPRoute (v1)');
    await cp.replace(route('default', 'to-other', 'web', [{ name: 'other', port: 80 }]));
    await untilEveryNode(cluster, CLIENTS, web, 80, ['other-1'], 'changed HTTPRoute again');
    await cp.remove('gateway.networking.k8s.io/v1', 'HTTPRoute', 'default', 'to-other');
    await untilEveryNode(cluster, CLIENTS, web, 80, ['web-1', 'web-2'], 'deleted HTTPRoute');

    await cp.remove('v1', 'Service', 'default', 'other');
    await untilEveryNode(cluster, CLIENTS, other, 80, ['error:EHOSTUNREACH'], 'deleted Service: its ClusterIP is no longer translated');
    for (const agent of cluster.agents.values()) {
      const services = agent.inspect().services.map((s: any) => s.name);
      assert.ok(services.includes('default/web:80/TCP'), `${agent.node}: default/web in the maps`);
      assert.not.ok(services.some((s: string) => s.startsWith('default/other:')), `${agent.node}: default/other gone from the maps`);
    }
    assert.equal(cluster.kubelet.errors, []);
  });

  test('an HTTPRoute that the CRD\'s CEL rules reject never reaches meshc', async () => {
    const cluster = await started();
    const cp = cluster.controlPlane;
    const web = (await cp.admin.get('/api/v1/namespaces/default/services/web')).spec.clusterIP;
    // A backendRef to a Service without a port: the CRD's rule "Must have port for Service reference".
    const error = await cp.create(route('default', 'no-port', 'web', [{ name: 'web-1' }])).then(() => undefined, (e) => e);
    assert.ok(error, 'the API server accepted a route its CRD forbids');
    assert.is(error.status, 422);
    assert.match(error.message, /Must have port for Service reference/);
    const seen = reached(await cluster.connections('default', 'client-1', web, 80, 20));
    assert.equal(seen, ['web-1', 'web-2']);
  });
});
