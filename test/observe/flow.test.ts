// The flow record's parsers and joins: HAProxy request lines (as HAProxy 2.6 prints them with
// ACCESS_LOG_FORMAT) to L7 flows named from the canary's model and tables, kernel events to L4
// flows, filters, the per-second summary and the bounded metrics.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Registry } from 'prom-client';
import { buildModel } from '../../src/model/build.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { FlowDirectory } from '../../src/observe/directory.ts';
import { deniedFlow, l4Flow, l7Flow, parseAccessLog, tunnelFlow, type AccessLogEntry, type Flow } from '../../src/observe/flow.ts';
import { connectionEvent } from '../../src/agent/tunnel.ts';
import { formatFlow } from '../../src/observe/stream.ts';
import { FLOW_EVENTS, RingFlows } from '../../src/observe/ring.ts';
import { decodeEvent, encodeEvent } from '../../src/glue/events.ts';
import { describeEvent, type EventContext } from '../../src/inspect/events.ts';
import { MC_EV } from '../../src/generated/glue.ts';
import { matchesFilter, parseFilter } from '../../src/observe/filter.ts';
import { FlowSummary, percentile } from '../../src/observe/summary.ts';
import { FlowHub } from '../../src/observe/hub.ts';
import { FlowMetrics } from '../../src/metrics/flows.ts';
import { planProxy } from '../../src/proxy/plan.ts';
import { CLIENT_IP, CLIENT_UID, V1, V2, canaryObjects } from './canary.ts';

function canaryDirectory(): { directory: FlowDirectory; listener: string; pools: string[] } {
  const model = buildModel(canaryObjects().map((object, doc) => ({ file: 't', doc, object })));
  const tables = compileTables(model);
  const directory = new FlowDirectory();
  directory.update(model, tables);
  const plan = planProxy(tables);
  return { directory, listener: plan.listeners[0]!.name, pools: [...plan.pools.keys()] };
}

const parse = suite('parseAccessLog');

parse('a request a backend answered (a line HAProxy 2.6 printed)', () => {
  const e = parseAccessLog('meshc1 1796685089.836 127.0.0.1:37544 default.web.80 pool1 s1 127.0.0.1:18482 0 - 200 19 19 ---- GET /a/x\n') as AccessLogEntry;
  assert.equal(e, {
    unixMs: 1796685089836, client: '127.0.0.1', clientPort: 37544, listener: 'default.web.80', pool: 'pool1', server: 's1',
    serverAddress: '127.0.0.1', serverPort: 18482, rule: 0, group: null, status: 200, totalMs: 19, serverMs: 19, termination: '----', method: 'GET', path: '/a/x',
  });
});

parse('a request HAProxy answered itself (404, no server)', () => {
  const e = parseAccessLog('meshc1 1796685089.856 127.0.0.1:37544 default.web.80 default.web.80 <NOSRV> -:- - - 404 0 -1 LR-- GET /b\n') as AccessLogEntry;
  assert.is(e.server, null);
  assert.is(e.serverAddress, null);
  assert.is(e.rule, null);
  assert.is(e.serverMs, null);
  assert.is(e.status, 404);
});

parse('the path is the rest of the line, spaces and all; IPv6 clients split at the last colon', () => {
  const e = parseAccessLog('meshc1 1.5 fd00::1:4000 l p s1 fd00::2:8080 1 0 200 3 2 ---- POST /a b') as AccessLogEntry;
  assert.is(e.path, '/a b');
  assert.is(e.client, 'fd00::1');
  assert.is(e.serverAddress, 'fd00::2');
  assert.is(e.group, 0);
});

parse('lines that are not request lines say why', () => {
  assert.match(parseAccessLog('Proxy default.web.80 started.') as string, /not a meshc request line/);
  assert.match(parseAccessLog('meshc1 1.5 a:1 l') as string, /fields/);
  assert.match(parseAccessLog('meshc1 x a:1 l p s1 b:2 1 0 abc 3 2 ---- GET /') as string, /bad time or status/);
});

parse.run();

const join = suite('l7Flow and l4Flow: names from the model and tables');

join('a canary request: client pod, Service web, route default/web rule 0, backend web-v2 pod', () => {
  const { directory, listener, pools } = canaryDirectory();
  const v2Pool = pools.find((p) => p.includes('web-v2'))!;
  const line = `meshc1 1796685089.836 ${CLIENT_IP}:40000 ${listener} ${v2Pool} s1 ${V2[0]}:8080 0 - 200 4 3 ---- GET /hello`;
  const flow = l7Flow(parseAccessLog(line) as AccessLogEntry, directory);
  assert.equal(flow.source, { pod: { namespace: 'default', name: 'client', node: 'node-1' }, address: CLIENT_IP, cgroup: null });
  assert.equal(flow.destination, { service: 'default/web', port: 80, backend: { service: 'default/web-v2', pod: 'default/web-v2-a', address: `${V2[0]}:8080` } });
  assert.is(flow.verdict, 'translated');
  assert.equal(flow.http, { method: 'GET', path: '/hello', route: 'default/web', rule: 0, status: 200, durationMs: 4, serverMs: 3, termination: '----' });
});

join('the catch-all rule is spec.rules[1] and a v1 pod; an unknown client address keeps its address', () => {
  const { directory, listener, pools } = canaryDirectory();
  const v1Pool = pools.find((p) => p.includes('web-v1'))!;
  const flow = l7Flow(parseAccessLog(`meshc1 1.0 10.9.9.9:1 ${listener} ${v1Pool} s2 ${V1[1]}:8080 1 - 200 1 1 ---- GET /`) as AccessLogEntry, directory);
  assert.is(flow.source.pod, null);
  assert.is(flow.source.address, '10.9.9.9');
  assert.is(flow.http!.rule, 1);
  assert.is(flow.destination.backend!.pod, 'default/web-v1-b');
});

join('what the proxy answers itself is refused with the reason its status says', () => {
  const { directory, listener } = canaryDirectory();
  const flow = l7Flow(parseAccessLog(`meshc1 1.0 ${CLIENT_IP}:1 ${listener} ${listener} <NOSRV> -:- - - 404 0 -1 LR-- GET /x`) as AccessLogEntry, directory);
  assert.is(flow.verdict, 'refused');
  assert.is(flow.reason, 'no-route-match');
  assert.is(flow.destination.backend, null);
  assert.is(flow.http!.route, null);
});

join('an L4 event: the client pod from the pod UID in its cgroup path, the backend from its id', () => {
  const model = buildModel(canaryObjects().map((object, doc) => ({ file: 't', doc, object })));
  const tables = compileTables(model);
  const directory = new FlowDirectory();
  directory.update(model, tables);
  const backend = [...tables.backends.values()].find((b) => b.ip === V1[0])!;
  const flow = l4Flow({
    time: '2026-12-07T00:00:00.000Z', event: 'translated', protocol: 'TCP', family: 4, cookie: '1',
    cgroup: { id: '5', path: `/kubepods.slice/kubepods-pod${CLIENT_UID.replaceAll('-', '_')}.slice/cri-x.scope` },
    service: { id: 1, name: 'default/web-v1:80/TCP' },
    backend: { id: backend.id, name: 'default/web-v1-a' },
  }, directory);
  assert.equal(flow.source.pod, { namespace: 'default', name: 'client', node: 'node-1' });
  assert.equal(flow.destination, { service: 'default/web-v1', port: 80, backend: { service: 'default/web-v1', pod: 'default/web-v1-a', address: null } });
  assert.is(flow.verdict, 'translated');
  const refused = l4Flow({ time: 't', event: 'refused', reason: 'no-endpoints', protocol: 'TCP', family: 4, cookie: '2', cgroup: { id: '5', path: null }, service: { id: 9, name: null }, backend: null }, directory);
  assert.is(refused.verdict, 'refused');
  assert.is(refused.reason, 'no-endpoints');
});

join('an L4 connection steered to the node proxy: its backend is the proxy, not a pod', () => {
  const model = buildModel(canaryObjects().map((object, doc) => ({ file: 't', doc, object })));
  const tables = compileTables(model, { proxy: (f) => (f.service.meta.name === 'web' ? { address: '172.31.250.1', port: 15001 } : undefined) });
  const directory = new FlowDirectory();
  directory.update(model, tables);
  const flow = l4Flow({
    time: 't', event: 'translated', protocol: 'TCP', family: 4, cookie: '1', cgroup: { id: '5', path: '/x' },
    service: { id: 1, name: 'default/web:80/TCP' }, backend: { id: 99, name: '172.31.250.1:15001' },
  }, directory);
  assert.equal(flow.destination, { service: 'default/web', port: 80, backend: { service: 'node proxy', pod: null, address: '172.31.250.1:15001' } });
  const summary = new FlowSummary();
  summary.add(flow);
  assert.equal(summary.tick(0).edges.map((e) => e.kind), ['client'], 'no edge to a pod for the proxy hop');
});

join('a network policy denial: denied, its reason and policy, the destination pod by address', () => {
  const { directory } = canaryDirectory();
  const flow = deniedFlow({
    time: 't', event: 'denied', reason: 'no-allow-rule',
    cgroup: { id: '5', path: `/kubepods/pod${CLIENT_UID}` },
    client: { identity: 3, name: 'default/client' },
    destination: { address: V1[0]!, port: 8080, protocol: 'TCP', pod: 4, cidr: 0, name: 'default/web-v1-a' },
    policy: { id: 2, name: 'NetworkPolicy default/deny-web' },
  }, directory);
  assert.is(flow.verdict, 'denied');
  assert.is(flow.reason, 'no-allow-rule');
  assert.is(flow.policy, 'NetworkPolicy default/deny-web');
  assert.equal(flow.source.pod, { namespace: 'default', name: 'client', node: 'node-1' });
  assert.equal(flow.destination.backend, { service: null, pod: 'default/web-v1-a', address: `${V1[0]}:8080` });
});

join.run();

function flow(over: Partial<Flow> & { backendPod?: string; status?: number; ms?: number }): Flow {
  return {
    time: 't', layer: 'L7', protocol: 'HTTP', verdict: 'translated',
    source: { pod: { namespace: 'shop', name: 'client', node: null }, address: '1.1.1.1', cgroup: null },
    destination: { service: 'default/web', port: 80, backend: { service: 'default/web-v1', pod: over.backendPod ?? 'default/web-v1-a', address: null } },
    http: { method: 'GET', path: '/', route: 'default/web', rule: 1, status: over.status ?? 200, durationMs: over.ms ?? 1, serverMs: 1, termination: '----' },
    ...over,
  };
}

const filters = suite('filters');

filters('namespace, pod, Service, verdict and layer match either side of a flow', () => {
  const cases: [Record<string, string>, boolean][] = [
    [{ namespace: 'shop' }, true], [{ namespace: 'default' }, true], [{ namespace: 'other' }, false],
    [{ pod: 'client' }, true], [{ pod: 'shop/client' }, true], [{ pod: 'web-v1-a' }, true], [{ pod: 'web-v2-a' }, false],
    [{ service: 'web' }, true], [{ service: 'default/web-v1' }, true], [{ service: 'web-v2' }, false],
    [{ verdict: 'translated' }, true], [{ verdict: 'refused' }, false], [{ layer: 'l7' }, true], [{ layer: 'L4' }, false],
  ];
  for (const [values, expected] of cases) assert.is(matchesFilter(flow({}), parseFilter(values, 't')), expected, JSON.stringify(values));
});

filters('a bad verdict or layer is an error naming it', () => {
  assert.throws(() => parseFilter({ verdict: 'ok' }, 'monitor'), /monitor: verdict "ok" is not one of translated/);
  assert.throws(() => parseFilter({ layer: 'L3' }, 'monitor'), /layer "L3"/);
});

filters.run();

const summary = suite('summary, hub and metrics');

summary('per-second edges and Service figures; established/closed events do not count again', () => {
  const s = new FlowSummary();
  for (let i = 0; i < 8; i++) s.add(flow({ ms: i + 1 }));
  s.add(flow({ backendPod: 'default/web-v2-a', status: 503 }));
  s.add({ ...flow({}), layer: 'L4', event: 'established', http: undefined });
  const t = s.tick(1000);
  assert.is(t.flows, 9);
  const toV1 = t.edges.find((e) => e.to === 'pod default/web-v1-a')!;
  assert.is(toV1.count, 8);
  assert.is(t.edges.find((e) => e.to === 'pod default/web-v2-a')!.count, 1);
  assert.is(t.edges.find((e) => e.kind === 'client')!.count, 9);
  assert.equal(t.services, [{ service: 'default/web', requests: 9, errors: 1, p50: 4, p90: 8, p99: 8 }]);
  assert.is(s.tick(2000).flows, 0);
  assert.is(percentile([1, 2, 3, 4], 0.5), 2);
});

summary('a subscriber over its rate gets the rest counted as sampled out; lost flows reach it', () => {
  const hub = new FlowHub();
  const got: string[] = [];
  hub.subscribe({ service: 'web' }, { flow: () => got.push('flow'), lost: (n, why) => got.push(`lost ${n} ${why}`), tick: (t) => got.push(`tick ${t.flows} ${t.sampledOut}`) }, 3);
  for (let i = 0; i < 5; i++) hub.publish(flow({}));
  hub.lost(7, 'ring full', 'ring');
  hub.tick();
  assert.equal(got, ['flow', 'flow', 'flow', 'lost 7 ring full', 'tick 5 2']);
  assert.is(hub.recent({ service: 'nope' }).length, 0);
  assert.is(hub.recent({}).length, 5);
});

summary('metrics: Kubernetes names as labels, bounded label sets counted under "other"', async () => {
  const registry = new Registry();
  const hub = new FlowHub({ metrics: new FlowMetrics(registry, 2) });
  hub.publish(flow({}));
  hub.publish(flow({ backendPod: 'default/web-v1-b' }));
  hub.publish(flow({ backendPod: 'default/web-v1-c' }));
  hub.lost(3, 'x', 'ring');
  const text = await registry.metrics();
  assert.match(text, 'meshc_l7_requests_total{service="default/web",route="default/web",rule="1",backend_service="default/web-v1",backend="default/web-v1-a",status="200"} 1');
  assert.match(text, 'meshc_l7_requests_total{service="default/web",route="other",rule="other",backend_service="other",backend="other",status="other"} 1');
  assert.match(text, 'meshc_flow_label_overflow_total{metric="meshc_l7_requests_total"} 1');
  assert.match(text, 'meshc_flows_lost_total{source="ring"} 3');
  assert.match(text, 'meshc_l7_request_duration_seconds_count{service="default/web",route="default/web"} 3');
});

summary.run();

const tunnel = suite('tunnel flows: authenticated and denied connections of the node tunnel');
const WEB = 'spiffe://cluster.local/ns/default/sa/client';
const API = 'spiffe://cluster.local/ns/default/sa/web-v2';

tunnel('the supervisor reads connection events among the tunnel\'s stdout lines', () => {
  const opened = connectionEvent(JSON.stringify({ time: 1796685089836, type: 'opened', direction: 'outbound', authenticated: true, source: WEB, destination: API, target: `${V2[0]}:8080`, client: CLIENT_IP }));
  assert.equal(opened, { time: 1796685089836, type: 'opened', direction: 'outbound', authenticated: true, source: WEB, destination: API, target: `${V2[0]}:8080`, client: CLIENT_IP });
  assert.is(connectionEvent(JSON.stringify({ type: 'ready', outbound: {}, inbound: {}, identities: [] })), undefined);
  assert.is(connectionEvent(JSON.stringify({ type: 'counts', counts: {} })), undefined);
  assert.is(connectionEvent('tunnel: reload: bad'), undefined);
  assert.is(connectionEvent('{"type":"opened"'), undefined);
});

tunnel('an outbound connection opened: authenticated, client and backend pods named, both identities kept', () => {
  const { directory } = canaryDirectory();
  const flow = tunnelFlow({ time: 1796685089836, type: 'opened', direction: 'outbound', authenticated: true, source: WEB, destination: API, target: `${V2[0]}:8080`, client: CLIENT_IP }, directory)!;
  assert.equal(flow, {
    time: '2026-12-07T23:11:29.836Z', layer: 'L4',
    source: { pod: { namespace: 'default', name: 'client', node: 'node-1' }, address: CLIENT_IP, cgroup: null },
    destination: { service: null, port: 8080, backend: { service: null, pod: 'default/web-v2-a', address: `${V2[0]}:8080` } },
    protocol: 'TCP', verdict: 'authenticated', event: 'tunnel-outbound',
    identity: { direction: 'outbound', source: WEB, destination: API },
  });
  assert.match(formatFlow(flow), `${WEB} -> ${API}`);
  assert.match(formatFlow(flow), 'authenticated');
});

tunnel('an inbound refusal is denied with the tunnel\'s reason; a close is no flow', () => {
  const { directory } = canaryDirectory();
  const flow = tunnelFlow({ time: 1796685089836, type: 'refused', direction: 'inbound', authenticated: false, source: WEB, destination: API, target: `${V2[0]}:8080`, reason: 'not-allowed', detail: 'x' }, directory)!;
  assert.is(flow.verdict, 'denied');
  assert.is(flow.reason, 'tunnel-not-allowed');
  assert.equal(flow.source, { pod: null, address: null, cgroup: null });
  assert.equal(flow.identity, { direction: 'inbound', source: WEB, destination: API });
  assert.is(tunnelFlow({ time: 1, type: 'closed', direction: 'outbound', authenticated: true, source: WEB, destination: API, target: `${V2[0]}:8080` }, directory), undefined);
});

tunnel('the service map draws a tunnel flow as one client -> pod edge; metrics count it by side and verdict', async () => {
  const { directory } = canaryDirectory();
  const registry = new Registry();
  const hub = new FlowHub({ metrics: new FlowMetrics(registry) });
  const edges: string[] = [];
  hub.subscribe({}, { flow: () => undefined, lost: () => undefined, tick: (t) => edges.push(...t.edges.map((e) => `${e.from} -> ${e.to} ${JSON.stringify(e.verdicts)}`)) });
  const event = { time: 1796685089836, direction: 'outbound', authenticated: true, source: WEB, destination: API, target: `${V2[0]}:8080`, client: CLIENT_IP } as const;
  hub.publish(tunnelFlow({ ...event, type: 'opened' }, directory)!);
  hub.publish(tunnelFlow({ ...event, type: 'opened' }, directory)!);
  hub.publish(tunnelFlow({ ...event, type: 'refused', reason: 'not-allowed', authenticated: false }, directory)!);
  hub.tick();
  assert.equal(edges, ['client default/client -> pod default/web-v2-a {"authenticated":2,"denied":1}']);
  const text = await registry.metrics();
  assert.match(text, 'meshc_flow_tunnel_connections_total{direction="outbound",verdict="authenticated",reason=""} 2');
  assert.match(text, 'meshc_flow_tunnel_connections_total{direction="outbound",verdict="denied",reason="tunnel-not-allowed"} 1');
  assert.not.match(text, 'meshc_flow_connections_total{');
});

tunnel.run();

const ring = suite('ring records: named once per kind of event, equal to naming each in full');

ring('20,000 records of 48 kinds: the same flows, metrics and map counts as decode + describe + l4Flow each', async () => {
  const { directory } = canaryDirectory();
  const context: EventContext = {
    monotonicToUnixNs: 1796685089123456789n - 5_000_000_000n,
    cgroupPath: (id) => (id === 7n ? `/kubepods/pod${CLIENT_UID}` : id === 8n ? '/system.slice/x' : null),
    name: (_kind, id) => (id === 1 ? 'default/web:80/TCP' : id === 2 ? 'default/web-v1-a' : null),
  };
  const hubs = [0, 1].map(() => {
    const registry = new Registry();
    const hub = new FlowHub({ metrics: new FlowMetrics(registry) });
    const flows: Flow[] = [];
    const ticks: unknown[] = [];
    hub.subscribe({}, { flow: (f) => flows.push(f), lost: () => undefined, tick: (t) => ticks.push(t) }, 1e9);
    return { registry, hub, flows, ticks };
  });
  const fast = new RingFlows('/nonexistent', '/nonexistent', hubs[0]!.hub, directory);
  fast.use(context);
  let seed = 7;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
  for (let i = 0; i < 20000; i++) {
    const record = Buffer.from(encodeEvent({
      cookie: BigInt(random(1e9)), cgroupId: BigInt(6 + random(3)), timestamp: 5_000_000_000n + BigInt(i) * 7919n * 1000n + BigInt(random(1e6)),
      svcId: random(2), backendId: random(3), type: 1 + random(4), verdict: 0, reason: random(2), family: 4, proto: 6,
    }));
    fast.record(record);
    hubs[1]!.hub.publish(l4Flow(describeEvent(decodeEvent(record), context), directory));
  }
  for (const { hub } of hubs) hub.tick();
  assert.is(hubs[0]!.flows.length, 20000);
  assert.equal(hubs[0]!.flows, hubs[1]!.flows);
  assert.equal(JSON.parse(JSON.stringify(hubs[0]!.ticks, (k, v) => (k === 'time' ? 0 : v))), JSON.parse(JSON.stringify(hubs[1]!.ticks, (k, v) => (k === 'time' ? 0 : v))));
  assert.is(await hubs[0]!.registry.metrics(), await hubs[1]!.registry.metrics());
  assert.match(await hubs[0]!.registry.metrics(), /meshc_flow_connections_total\{service="default\/web",backend_service="default\/web-v1",backend="default\/web-v1-a",verdict="translated",reason=""\} \d+/);
  // A new directory (the tables changed) names the next records anew.
  fast.forget();
  const record = Buffer.from(encodeEvent({ cookie: 1n, cgroupId: 7n, timestamp: 6_000_000_000n, svcId: 1, backendId: 2, type: 1, verdict: 0, reason: 0, family: 4, proto: 6 }));
  fast.record(record);
  assert.equal(hubs[0]!.flows.at(-1), l4Flow(describeEvent(decodeEvent(record), context), directory));
  assert.throws(() => fast.record(Buffer.alloc(8)), /mc_events: a record of 8 bytes/);
});

ring('the flows ask the hooks for translations and refusals only', () => {
  assert.is(FLOW_EVENTS, (1 << MC_EV.translate) | (1 << MC_EV.refuse));
});

ring.run();
