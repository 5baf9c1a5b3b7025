// The agent's node proxy hook (src/agent/proxy.ts) without HAProxy running: which address it
// listens on, which frontends it steers, and what it says when HAProxy cannot run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { NetworkInterfaceInfo } from 'node:os';
import { firstHostAddress, NodeProxy } from '../../src/agent/proxy.ts';
import { buildModel } from '../../src/model/build.ts';
import { parseManifests } from '../../src/model/parse.ts';
import { compileTables } from '../../src/tables/compile.ts';

const test = suite('node proxy hook');

const MANIFESTS = `
apiVersion: v1
kind: Node
metadata: { name: node-1 }
status: { addresses: [{ type: Hostname, address: node-1 }, { type: InternalIP, address: 192.168.5.7 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec: { clusterIP: 10.96.0.1, ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: v2, namespace: default }
spec: { clusterIP: 10.96.0.2, ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: plain, namespace: default }
spec: { clusterIP: 10.96.0.3, ports: [{ port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, port: 80 }]
  rules:
  - matches: [{ headers: [{ name: X-Canary-User, value: "true" }] }]
    backendRefs: [{ name: v2, port: 80 }]
  - backendRefs: [{ name: web, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: weights, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: v2, port: 80 }]
  rules:
  - backendRefs: [{ name: web, port: 80, weight: 1 }, { name: plain, port: 80, weight: 1 }]
`;

const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false): NetworkInterfaceInfo =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as NetworkInterfaceInfo;

test('the default node address: the first non-loopback IPv4 address by interface name, else IPv6 (not link-local)', () => {
  assert.is(firstHostAddress({ lo: [iface('127.0.0.1', 'IPv4', true)], eth1: [iface('10.0.0.9', 'IPv4')], eth0: [iface('fe80::1', 'IPv6'), iface('10.0.0.5', 'IPv4')] }), '10.0.0.5');
  assert.is(firstHostAddress({ lo: [iface('127.0.0.1', 'IPv4', true)], eth0: [iface('fe80::1', 'IPv6'), iface('fd00::5', 'IPv6')] }), 'fd00::5');
  assert.is(firstHostAddress({ lo: [iface('127.0.0.1', 'IPv4', true)] }), undefined);
});

test('the Node object\'s InternalIP is read, and used when no --node-ip is given', () => {
  const model = buildModel(parseManifests(MANIFESTS, 'inline.yaml'));
  assert.is(model.nodes.get('node-1')?.internalIP, '192.168.5.7');
  const lines: string[] = [];
  const proxy = new NodeProxy({ node: 'node-1', log: (l) => lines.push(l) });
  try {
    const tables = compileTables(model, proxy.compileOptions(model));
    const steered = Object.fromEntries(tables.frontends.map((f) => [f.service.meta.name, f.steered]));
    assert.equal(steered.web, { address: '192.168.5.7', port: 15001 }, 'a header rule: L7, steered');
    assert.is(steered.v2, undefined, 'weights only: L4');
    assert.is(steered.plain, undefined, 'no route: L4');
    assert.match(lines.join('\n'), /node proxy: L7 listeners on 192\.168\.5\.7 \(Node node-1's InternalIP\)/);
    // --node-ip wins.
    const explicit = new NodeProxy({ node: 'node-1', nodeIp: '10.1.2.3', log: () => {} });
    try {
      assert.equal(compileTables(model, explicit.compileOptions(model)).frontends.find((f) => f.service.meta.name === 'web')!.steered, { address: '10.1.2.3', port: 15001 });
    } finally {
      void explicit.stop();
    }
  } finally {
    void proxy.stop();
  }
});

test('HAProxy missing: serve() says so once (naming the path and the fix) and the caller compiles without steering', async () => {
  const model = buildModel(parseManifests(MANIFESTS, 'inline.yaml'));
  const lines: string[] = [];
  const proxy = new NodeProxy({ nodeIp: '10.1.2.3', bin: '/nonexistent/haproxy', log: (l) => lines.push(l) });
  try {
    for (let i = 0; i < 3; i++) {
      const tables = compileTables(model, proxy.compileOptions(model));
      assert.is(await proxy.serve(tables), false, 'web was steered and cannot be served');
    }
    const problems = lines.filter((l) => /cannot run HAProxy/.test(l));
    assert.is(problems.length, 1, lines.join('\n'));
    assert.match(problems[0]!, /cannot run HAProxy at "\/nonexistent\/haproxy" \(not found\); install the haproxy package or pass --proxy-bin PATH\. L7 routes are not served; L4 routing goes on/);
    assert.match(proxy.notServing!, /cannot run HAProxy/);
    // The tables the agent then writes: nothing steered.
    assert.ok(compileTables(model).frontends.every((f) => f.steered === undefined));
  } finally {
    await proxy.stop();
  }
});

test.run();
