// Which Services a change touches: route parents and backends, slice owners.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { routeRefs, sliceService, withRouteParents } from '../../src/kube/affected.ts';
import { chooseRouteVersion } from '../../src/kube/kinds.ts';

const refs = suite('affected services');

refs('route references: Service parents and backends, defaulted namespaces, other kinds ignored', () => {
  const route = {
    metadata: { namespace: 'shop', name: 'r' },
    spec: {
      parentRefs: [{ kind: 'Service', group: '', name: 'front' }, { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'gw' }, { name: 'other', namespace: 'ops', group: 'core', kind: 'Service' }],
      rules: [{ backendRefs: [{ name: 'v1', port: 80 }, { name: 'v2', namespace: 'canary', port: 80 }] }, { backendRefs: [{ name: 'v1', port: 80 }, { kind: 'ServiceImport', group: 'multicluster.x-k8s.io', name: 'far' }] }, {}],
    },
  };
  assert.equal(routeRefs(route), { parents: ['shop/front', 'ops/other'], backends: ['shop/v1', 'canary/v2'] });
  assert.equal(routeRefs({ metadata: {}, spec: { parentRefs: 'bad' } }), { parents: [], backends: [] });
});

refs('slice owner from the service-name label', () => {
  assert.is(sliceService({ metadata: { namespace: 'a', labels: { 'kubernetes.io/service-name': 'web' } } }), 'a/web');
  assert.is(sliceService({ metadata: { namespace: 'a', labels: {} } }), undefined);
});

refs('parents of routes that send to a changed service, transitively', () => {
  const routes = [
    { parents: ['ns/front'], backends: ['ns/mid'] },
    { parents: ['ns/mid'], backends: ['ns/leaf'] },
    { parents: ['ns/unrelated'], backends: ['ns/x'] },
  ];
  assert.equal([...withRouteParents(['ns/leaf'], routes)].sort(), ['ns/front', 'ns/leaf', 'ns/mid']);
  assert.equal([...withRouteParents(['ns/none'], routes)], ['ns/none']);
});

refs('HTTPRoute version choice', () => {
  const cases: [string[], string | undefined][] = [
    [['v1', 'v1beta1'], 'v1'],
    [['v1beta1', 'v1'], 'v1'],
    [['v1beta1', 'v1alpha2'], 'v1beta1'],
    [['v1alpha2'], undefined],
    [[], undefined],
  ];
  for (const [served, expected] of cases) assert.is(chooseRouteVersion(served), expected, served.join(','));
});

refs.run();
