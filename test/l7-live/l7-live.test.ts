// HTTPRoutes that need the HTTP request, live: `meshc agent` in a node network namespace runs
// HAProxy and steers the L7 Services' ClusterIPs to it through its tables; a client in the
// routed cgroup, in a pod namespace joined to the node by a veth, sends real HTTP requests to
// echo backends. Header rule, path rule with a filter, 90/10 weights and a change of them,
// a path-only route, several requests on one keep-alive connection, an L4 Service beside them,
// HAProxy killed (restarted by the agent; L4 never stops), a bad route reported at its field.
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { L7Lab, NODE_IP, service, type Answer, type Request } from './lab.ts';
import { runMeshc } from '../helpers/meshc.ts';

const V1 = ['10.244.7.1', '10.244.7.2'];
const V2 = ['10.244.7.3'];
const DOCS = ['10.244.7.4'];
const PLAIN = ['10.244.7.5'];
const WEB = '10.96.70.1';
const DOCS_VIP = '10.96.70.2';
const PLAIN_VIP = '10.96.70.3';
const BROKEN_VIP = '10.96.70.4';

function webRoute(v1: number, v2: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, port: 80 }]
  rules:
  - matches: [{ headers: [{ type: Exact, name: X-Canary-User, value: "true" }] }]
    backendRefs: [{ name: web-v2, port: 80 }]
  - matches: [{ path: { type: PathPrefix, value: /api } }]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: { add: [{ name: x-via, value: meshc }] }
    - type: URLRewrite
      urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v1 } }
    backendRefs: [{ name: web-v1, port: 80 }]
  - backendRefs: [{ name: web-v1, port: 80, weight: ${v1} }, { name: web-v2, port: 80, weight: ${v2} }]
`;
}

const DOCS_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: docs, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: docs, port: 80 }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /docs } }]
    backendRefs: [{ name: docs, port: 80 }]
`;

// A lookahead: neither the Wasm matcher nor the proxy takes it; reported at its field.
const BAD_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bad, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: broken, port: 80 }]
  rules:
  - matches: [{ path: { type: RegularExpression, value: "/(?=x).*" } }]
    backendRefs: [{ name: docs, port: 80 }]
  - matches: [{ path: { type: PathPrefix, value: /ok } }]
    backendRefs: [{ name: docs, port: 80 }]
`;

// A consumer route: for clients in namespace shop only, web's /shop goes to docs and the rest to v2.
const SHOP_UID = '5a0c1e2d-3b4c-4d5e-8f90-a1b2c3d4e5f6';
const SHOP_POD = `apiVersion: v1
kind: Pod
metadata: { name: shop-client, namespace: shop, uid: ${SHOP_UID} }
spec: { containers: [{ name: app, image: app }] }
status: { podIP: 10.244.7.99 }
`;
const SHOP_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web-for-shop, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, namespace: default, port: 80 }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /shop } }]
    backendRefs: [{ name: docs, namespace: default, port: 80 }]
  - backendRefs: [{ name: web-v2, namespace: default, port: 80 }]
`;

const shopContainer = (lab: L7Lab) => path.join(lab.cgroup, `kubepods-pod${SHOP_UID.replaceAll('-', '_')}.slice`, 'container-1');
const header = (body: Answer['body'], name: string) => body?.headers.find(([n]) => n.toLowerCase() === name)?.[1];
const times = (n: number, request: Request) => Array.from({ length: n }, () => request);

function byBackend(answers: Answer[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of answers) {
    const key = a.error ? `error:${a.error}` : a.body ? a.body.address : `status:${a.status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

kernelSuite('L7 live: the node proxy behind the agent', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  let lab: L7Lab;

  test.before(async () => {
    lab = new L7Lab([...V1, ...V2, ...DOCS, ...PLAIN]);
    try {
      await lab.startPods();
      lab.write('web.yaml', service('web', WEB, [...V1]));
      lab.write('web-v1.yaml', service('web-v1', '10.96.70.11', V1));
      lab.write('web-v2.yaml', service('web-v2', '10.96.70.12', V2));
      lab.write('docs.yaml', service('docs', DOCS_VIP, DOCS));
      lab.write('plain.yaml', service('plain', PLAIN_VIP, PLAIN));
      lab.write('broken.yaml', service('broken', BROKEN_VIP, DOCS));
      lab.write('web-route.yaml', webRoute(90, 10));
      lab.write('docs-route.yaml', DOCS_ROUTE);
      lab.write('bad-route.yaml', BAD_ROUTE);
      lab.write('shop-pod.yaml', SHOP_POD);
      lab.write('shop-route.yaml', SHOP_ROUTE);
      mkdirSync(shopContainer(lab), { recursive: true });
      await lab.startAgent();
      await lab.agentLogs(/agent: node proxy: start in \d+ ms/);
    } catch (error) {
      lab.dispose();
      throw error;
    }
  });

  test.after(() => lab.dispose());

  test('the agent log says per Service port whether L4 or L7, why, and where it is served', async () => {
    const web = await lab.agentLogs(/Service default\/web port 80: L7/);
    assert.match(web, new RegExp(`L7 \\(HTTPRoute default/web rule 0 matches on headers; consumer HTTPRoute shop/web-for-shop applies to clients in namespace shop only\\): served by the node proxy at ${NODE_IP.replaceAll('.', '\\.')}:150\\d\\d`));
    await lab.agentLogs(/Service default\/docs port 80: L7 \(HTTPRoute default\/docs rule 0 matches on path\): served by the node proxy/);
    assert.not.ok(lab.agent!.log.some((l) => /Service default\/plain port 80: L7/.test(l)), 'plain has no route: L4');
  });

  test('meshc inspect says per Service whether L4 or L7, and where an L7 one is served', () => {
    const r = runMeshc(['inspect', '--pin', lab.pin, '--json']);
    assert.is(r.status, 0, r.stderr);
    const services = (JSON.parse(r.stdout) as { services: { name: string; serving: { layer: string; proxy?: string; why: string } }[] }).services;
    const serving = (name: string) => services.find((s) => s.name === `default/${name}:80/TCP`)!.serving;
    assert.is(serving('web').layer, 'L7');
    assert.match(serving('web').proxy!, new RegExp(`^${NODE_IP.replaceAll('.', '\\.')}:150\\d\\d$`));
    assert.match(serving('web').why, /served by the node proxy at .*: its HTTPRoute rules need the HTTP request/);
    assert.is(serving('docs').layer, 'L7');
    assert.is(serving('plain').layer, 'L4');
    assert.match(serving('plain').why, /no HTTPRoute needs the HTTP request/);
    const text = runMeshc(['inspect', '--pin', lab.pin]).stdout;
    assert.match(text, /default\/web:80\/TCP\s+random\s+l7\s+L7\n\s+L7: served by the node proxy at 172\.31\.250\.1:150\d\d/);
  });

  test('header rule: X-Canary-User: true goes to v2, and getpeername shows the ClusterIP', async () => {
    const answers = await lab.requests([{ host: WEB, port: 80, requests: times(40, { headers: { 'X-Canary-User': 'true' } }) }]);
    assert.equal([...byBackend(answers)], [[V2[0]!, 40]], JSON.stringify(answers.slice(0, 2)));
    assert.ok(answers.every((a) => a.peer === `${WEB}:80`), `peers: ${[...new Set(answers.map((a) => a.peer))].join(', ')}`);
    assert.ok(answers.every((a) => a.body!.remote === NODE_IP), 'the backend is dialled by the proxy on the node');
  });

  test('path rule with filters: /api/... goes to v1 with x-via added and the prefix rewritten', async () => {
    const answers = await lab.requests([{ host: WEB, port: 80, requests: times(20, { path: '/api/items?x=1' }) }]);
    for (const a of answers) {
      assert.is(a.status, 200);
      assert.ok(V1.includes(a.body!.address), a.body!.address);
      assert.is(a.body!.url, '/v1/items?x=1');
      assert.is(header(a.body, 'x-via'), 'meshc');
    }
  });

  test('90/10 weights on the catch-all rule (2,000 requests on 20 keep-alive connections, v2 share 10% ± 3%)', async () => {
    const answers = await lab.requests(Array.from({ length: 20 }, () => ({ host: WEB, port: 80, requests: times(100, {}) })));
    const counts = byBackend(answers);
    const v2 = counts.get(V2[0]!) ?? 0;
    const v1 = V1.reduce((n, ip) => n + (counts.get(ip) ?? 0), 0);
    assert.is(v1 + v2, 2000, JSON.stringify([...counts]));
    assert.ok(Math.abs(v2 / 2000 - 0.1) < 0.03, `v2 got ${v2} of 2000`);
    process.stderr.write(`  90/10: v1 ${v1}, v2 ${v2} of 2000\n`);
  });

  test('one keep-alive connection: each request routed by its own headers and path', async () => {
    const plan: Request[] = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? { headers: { 'X-Canary-User': 'true' } } : i % 3 === 1 ? { path: '/api/a' } : { headers: { 'X-Canary-User': 'false' }, path: '/api/b' }));
    const answers = await lab.requests([{ host: WEB, port: 80, requests: plan }]);
    assert.is(answers.length, 30);
    assert.is(new Set(answers.map((a) => a.local)).size, 1, 'one connection');
    answers.forEach((a, i) => {
      if (i % 3 === 0) assert.is(a.body!.address, V2[0], `request ${i}`);
      else {
        assert.ok(V1.includes(a.body!.address), `request ${i}: ${a.body!.address}`);
        assert.match(a.body!.url, /^\/v1\/[ab]$/);
      }
    });
  });

  test('path-only route: a matched path reaches its backend, an unmatched one gets 404', async () => {
    const answers = await lab.requests([{ host: DOCS_VIP, port: 80, requests: [...times(5, { path: '/docs/intro' }), ...times(5, { path: '/other' })] }]);
    assert.equal(answers.slice(0, 5).map((a) => a.body?.address), times(5, {}).map(() => DOCS[0]));
    assert.equal(answers.slice(5).map((a) => a.status), [404, 404, 404, 404, 404]);
  });

  test('consumer routes: clients in namespace shop (by their pod cgroup) get theirs; other clients the producer routes', async () => {
    await lab.agentLogs(/Service default\/web port 80: L7 .*clients in namespace shop: their consumer routes are served by the node proxy at 172\.31\.250\.1:150\d\d/);
    const fromShop = await lab.requests([{ host: WEB, port: 80, requests: [...times(20, {}), ...times(5, { path: '/shop/cart' })] }], shopContainer(lab));
    assert.equal([...byBackend(fromShop.slice(0, 20))], [[V2[0]!, 20]], 'the consumer route\'s catch-all: v2');
    assert.equal([...byBackend(fromShop.slice(20))], [[DOCS[0]!, 5]], '/shop: docs');
    assert.ok(fromShop.every((a) => a.peer === `${WEB}:80`));
    // The same requests from the routed cgroup (a pod of no namespace with consumer routes).
    const fromDefault = await lab.requests([{ host: WEB, port: 80, requests: times(5, { path: '/shop/cart' }) }]);
    assert.ok(fromDefault.every((a) => a.body && [...V1, ...V2].includes(a.body.address)), JSON.stringify(fromDefault.map((a) => a.body?.address)));
  });

  test('an L4 Service beside them is untouched by the proxy: the client dials the pod itself', async () => {
    const answers = await lab.requests([{ host: PLAIN_VIP, port: 80, requests: times(10, {}) }]);
    for (const a of answers) {
      assert.is(a.body!.address, PLAIN[0]);
      assert.is.not(a.body!.remote, NODE_IP);
      assert.is(a.peer, `${PLAIN_VIP}:80`);
    }
  });

  test('a bad route is reported at its field; its valid rule and the other routes keep serving', async () => {
    await lab.agentLogs(/HTTPRoute default\/bad: spec\.rules\[0\]\.matches\[0\]\.path\.value/);
    const answers = await lab.requests([
      { host: BROKEN_VIP, port: 80, requests: [{ path: '/ok/1' }, { path: '/xyz' }] },
      { host: WEB, port: 80, requests: [{ headers: { 'X-Canary-User': 'true' } }] },
    ]);
    assert.is(answers[0]!.body?.address, DOCS[0]);
    assert.is(answers[1]!.status, 404, 'the rule that is left out is never taken');
    assert.is(answers[2]!.body?.address, V2[0]);
  });

  test('a weight change (90/10 -> 10/90) applies through the runtime API, without a reload', async () => {
    const mark = lab.logMark;
    lab.write('web-route.yaml', webRoute(10, 90));
    await lab.agentLogs(/node proxy: \d+ runtime API commands, no reload/, mark);
    const answers = await lab.requests(Array.from({ length: 10 }, () => ({ host: WEB, port: 80, requests: times(100, {}) })));
    const v2 = byBackend(answers).get(V2[0]!) ?? 0;
    assert.ok(Math.abs(v2 / 1000 - 0.9) < 0.04, `v2 got ${v2} of 1000`);
    process.stderr.write(`  after 10/90: v2 ${v2} of 1000\n`);
  });

  test('a Service port that stops being L7 keeps answering: its listener closes only after the maps stop steering to it', async () => {
    const mark = lab.logMark;
    const during = lab.requests([{ host: DOCS_VIP, port: 80, fresh: true, requests: times(400, { path: '/docs/x' }) }]);
    await new Promise((r) => setTimeout(r, 100));
    lab.write('docs-route.yaml', DOCS_ROUTE.replace('  - matches: [{ path: { type: PathPrefix, value: /docs } }]\n', '  -\n'));
    await lab.agentLogs(/Service default\/docs port 80: now L4/, mark);
    const answers = await during;
    assert.is(answers.length, 400);
    assert.equal([...byBackend(answers)], [[DOCS[0]!, 400]], 'every connection answered by docs, before and after');
    await lab.agentLogs(/node proxy: reload in \d+ ms/, mark);
    lab.write('docs-route.yaml', DOCS_ROUTE);
    await lab.agentLogs(/Service default\/docs port 80: L7/, lab.logMark);
  });

  test('HAProxy killed: the agent starts it again; L4 connections never fail meanwhile', async () => {
    const [master] = lab.descendants(lab.agent!.pid!, 'haproxy');
    assert.ok(master, 'HAProxy runs under the agent');
    const mark = lab.logMark;
    process.kill(master!, 'SIGKILL');
    const l4 = lab.requests(Array.from({ length: 4 }, () => ({ host: PLAIN_VIP, port: 80, requests: times(100, {}) })));
    await lab.agentLogs(/node proxy: HAProxy exited \(SIGKILL\); starting it again/, mark);
    let served: Answer | undefined;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const [a] = await lab.requests([{ host: WEB, port: 80, requests: [{ headers: { 'X-Canary-User': 'true' } }] }]);
      if (a?.body?.address === V2[0]) {
        served = a;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(served, 'L7 serves again');
    const l4answers = await l4;
    assert.is(l4answers.length, 400);
    assert.equal([...byBackend(l4answers)], [[PLAIN[0]!, 400]]);
    assert.ok(lab.descendants(lab.agent!.pid!, 'haproxy').every((pid) => pid !== master));
  });

  test('the agent killed (SIGKILL): HAProxy dies with it; the next agent starts its own and serves', async () => {
    const agent = lab.agent!;
    const haproxy = lab.descendants(agent.pid!, 'haproxy');
    assert.ok(haproxy.length >= 2, `master and worker: ${haproxy}`);
    const exited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
    process.kill(agent.pid!, 'SIGKILL');
    await exited;
    const deadline = Date.now() + 3000;
    while (haproxy.some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(haproxy.filter((pid) => existsSync(`/proc/${pid}`)), [], 'no HAProxy left behind');
    await lab.startAgent();
    await lab.agentLogs(/agent: node proxy: start in \d+ ms/);
    const answers = await lab.requests([{ host: WEB, port: 80, requests: times(10, { headers: { 'X-Canary-User': 'true' } }) }]);
    assert.equal([...byBackend(answers)], [[V2[0]!, 10]]);
  });

  test('SIGTERM: the agent puts the L7 ports back in the kernel and stops HAProxy', async () => {
    const agent = lab.agent!;
    const exited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
    const haproxy = lab.descendants(agent.pid!, 'haproxy');
    assert.ok(haproxy.length > 0);
    agent.kill('SIGTERM');
    await exited;
    assert.equal(haproxy.filter((pid) => existsSync(`/proc/${pid}`)), [], 'HAProxy stopped with the agent');
    await lab.agentLogs(/Service default\/web port 80: L7 .*: the agent is stopping: the node proxy stops with it, so connect\(\) is decided in the kernel/);
    // Pinned state routes on: the catch-all rule in the kernel (no header rule, 90/10 of connections).
    const answers = await lab.requests([{ host: WEB, port: 80, requests: [{ headers: { 'X-Canary-User': 'true' } }] }]);
    assert.ok(answers[0]!.body && [...V1, ...V2].includes(answers[0]!.body.address), JSON.stringify(answers[0]));
    assert.is.not(answers[0]!.body!.remote, NODE_IP);
  });

  test('HAProxy missing (--proxy-bin): said once, at start; L7 ports go to the kernel\'s catch-all rules, L4 routes on', async () => {
    await lab.startAgent(['--proxy-bin', '/nonexistent/haproxy']);
    const problem = await lab.agentLogs(/cannot run HAProxy/);
    assert.match(problem, /node proxy: cannot run HAProxy at "\/nonexistent\/haproxy" \(not found\); install the haproxy package or pass --proxy-bin PATH\. L7 routes are not served; L4 routing goes on/);
    await lab.agentLogs(/Service default\/web port 80: L7 \(.*\): node proxy: cannot run HAProxy .*, so connect\(\) is decided in the kernel on the catch-all rules only/);
    const mark = lab.logMark;
    lab.write('plain.yaml', service('plain', PLAIN_VIP, [...PLAIN, DOCS[0]!]));
    await lab.agentLogs(/agent: synced/, mark);
    assert.is(lab.agent!.log.filter((l) => /^agent: node proxy: cannot run HAProxy/.test(l)).length, 1, 'said once');
    assert.match(lab.agent!.log.slice(mark).find((l) => /agent: synced/.test(l))!, /1 services switched/, 'only plain changed: the L7 rows are the same as after the first sync');
    const answers = await lab.requests([
      { host: PLAIN_VIP, port: 80, requests: times(20, {}) },
      { host: WEB, port: 80, requests: [{ headers: { 'X-Canary-User': 'true' } }] },
    ]);
    assert.ok(answers.slice(0, 20).every((a) => a.body && [PLAIN[0], DOCS[0]].includes(a.body.address)), 'L4 routes on, with the new endpoint');
    assert.ok(answers[20]!.body && [...V1, ...V2].includes(answers[20]!.body.address) && answers[20]!.body.remote !== NODE_IP, 'web: the catch-all rule, in the kernel');
  });
});
