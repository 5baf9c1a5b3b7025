// The HAProxy configuration compiler: golden output for the seed's scenario, reproducibility,
// precedence order, what it reports instead of approximating, regex printing, listener ports.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadManifests } from '../../src/model/load-files.ts';
import { buildModel } from '../../src/model/build.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { planProxy, precedenceKey } from '../../src/proxy/plan.ts';
import { haproxyConfig } from '../../src/proxy/haproxy-config.ts';
import { assignListenerPorts } from '../../src/proxy/ports.ts';
import { pcreFor } from '../../src/proxy/pcre.ts';
import { quoted } from '../../src/proxy/config-words.ts';
import { frontendServing } from '../../src/proxy/serving.ts';
import { ServingLog } from '../../src/proxy/serving-log.ts';
import { checkConfig, haproxyAvailable, startHaproxy } from './haproxy-process.ts';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GOLDEN = path.join(ROOT, 'fixtures', 'proxy', 'product-api.expected.cfg');

type Obj = Record<string, unknown>;

function configOf(objects: Obj[]) {
  const tables = compileTables(buildModel(objects.map((object, doc) => ({ file: 'test.yaml', doc, object }))));
  const plan = planProxy(tables);
  const ports = assignListenerPorts(plan.listeners.map((l) => l.name));
  return { tables, plan, config: haproxyConfig(plan, { bindAddress: '10.0.0.1', ports }) };
}

const service = (name: string, port = 80): Obj => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port }] } });
const route = (name: string, rules: Obj[], namespace = 'default'): Obj => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace },
  spec: { parentRefs: [{ group: '', kind: 'Service', name: 'front', namespace: 'default', port: 80 }], rules },
});

const golden = suite('haproxy.cfg');

golden('the seed scenario (fixtures/product-api) matches the golden file', async () => {
  const model = await loadManifests([path.join(ROOT, 'fixtures', 'product-api')]);
  const plan = planProxy(compileTables(model));
  const config = haproxyConfig(plan, { bindAddress: '10.0.0.1', ports: assignListenerPorts(plan.listeners.map((l) => l.name)), statsSocket: '/run/meshc/haproxy.sock' });
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(path.dirname(GOLDEN), { recursive: true });
    writeFileSync(GOLDEN, config.text);
  }
  assert.ok(existsSync(GOLDEN), `${GOLDEN} missing: run with UPDATE_GOLDEN=1`);
  assert.fixture(config.text, readFileSync(GOLDEN, 'utf8'));
  assert.ok(config.text.startsWith('# DO NOT EDIT'));
  assert.equal(config.reports, []);
});

golden('byte for byte the same from the same input', async () => {
  const a = await loadManifests([path.join(ROOT, 'fixtures', 'product-api')]);
  const b = await loadManifests([path.join(ROOT, 'fixtures', 'product-api')]);
  const text = (m: typeof a) => {
    const plan = planProxy(compileTables(m));
    return haproxyConfig(plan, { bindAddress: '10.0.0.1', ports: assignListenerPorts(plan.listeners.map((l) => l.name)) }).text;
  };
  assert.is(text(a), text(b));
});

golden('haproxy -c accepts it', () => {
  if (!haproxyAvailable()) {
    if (process.env.MESHC_REQUIRE_KERNEL === '1') assert.unreachable('haproxy is required (MESHC_REQUIRE_KERNEL=1)');
    console.log('skip haproxy -c: no haproxy');
    return;
  }
  const { config } = configOf([
    service('front'), service('v1'),
    route('r', [
      { matches: [{ path: { type: 'RegularExpression', value: "/it's[a-z]+\\.(json|xml)$" }, headers: [{ name: 'x-a', value: 'say "$HOME"\\' }], queryParams: [{ name: 'q', type: 'RegularExpression', value: '.*' }] }], backendRefs: [{ name: 'v1', port: 80, weight: 3 }, { name: 'gone', port: 80 }] },
      { matches: [{ path: { type: 'Exact', value: "/a'b" }, method: 'POST' }], backendRefs: [] },
    ]),
  ]);
  assert.is(checkConfig(config.text), undefined);
});

const plan = suite('plan');

plan('matches are tried by precedence: Exact, longer prefix, method, headers, query; ties in route order', () => {
  const { plan: p } = configOf([
    service('front'), service('v1'),
    route('a', [
      { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'v1', port: 80 }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x', value: '1' }] }], backendRefs: [{ name: 'v1', port: 80 }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/api/v1' } }, { path: { type: 'Exact', value: '/z' } }], backendRefs: [{ name: 'v1', port: 80 }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/api' }, method: 'GET' }], backendRefs: [{ name: 'v1', port: 80 }] },
    ]),
  ]);
  const [listener] = p.listeners;
  assert.equal(listener!.matches.map((m) => `${m.rule}.${m.matchIndex}`), ['2.1', '2.0', '3.0', '1.0', '0.0']);
  assert.ok(precedenceKey({ path: { type: 'PathPrefix', value: '/ab' }, headers: [], queryParams: [] }) > precedenceKey({ path: { type: 'PathPrefix', value: '/a' }, headers: [{ type: 'Exact', name: 'x', value: 'y' }], queryParams: [] }));
});

plan('a weights-only route stays in the kernel; a header match or a consumer route goes to the proxy, and says why', () => {
  const l4 = configOf([service('front'), service('v1'), route('w', [{ backendRefs: [{ name: 'v1', port: 80, weight: 9 }] }])]);
  assert.is(l4.plan.listeners.length, 0);
  const f = l4.tables.frontends.find((x) => x.service.meta.name === 'front')!;
  assert.equal(frontendServing(f).producer, { layer: 'L4', why: 'HTTPRoute default/w: catch-all rules only, weights decided per connection' });
  const l7 = configOf([
    service('front'), service('v1'),
    route('h', [{ matches: [{ headers: [{ name: 'x-canary-user', value: 'true' }] }], backendRefs: [{ name: 'v1', port: 80 }] }]),
    route('c', [{ backendRefs: [{ name: 'v1', port: 80 }] }], 'shop'),
  ]);
  assert.equal(l7.plan.listeners.map((l) => [l.name, l.why]), [
    ['default.front.80', 'HTTPRoute default/h rule 0 matches on headers'],
    ['default.front.80.from.shop', 'consumer HTTPRoute shop/c applies to clients in namespace shop only'],
  ]);
});

plan('what HAProxy cannot express exactly is reported at the route\'s field, never approximated', () => {
  const { config } = configOf([
    service('front'), service('v1'),
    route('r', [
      { matches: [{ headers: [{ name: 'x!y', value: 'v' }] }, { queryParams: [{ name: 'a%41', value: '1' }] }, { path: { type: 'RegularExpression', value: '/(?=x)' } }], backendRefs: [{ name: 'v1', port: 80 }] },
    ]),
  ]);
  assert.equal(config.reports, [
    'HTTPRoute default/r: spec.rules[0].matches[2].path.value: "/(?=x)": lookaround and group flags are not supported; this match never matches',
    'HTTPRoute default/r: spec.rules[0].matches[0].headers[0].name: header name "x!y" has characters HAProxy\'s req.fhdr() argument cannot carry; the proxy never takes this match',
    'HTTPRoute default/r: spec.rules[0].matches[1].queryParams[0].name: query parameter name "a%41" has characters the proxy does not match exactly; the proxy never takes this match',
  ]);
  assert.not.match(config.text, /x!y|a%41|\(\?=/);
});

plan('filters: redirect, rewrite, header edits and timeouts pass haproxy -c; a mirror and timeouts are reported at their fields', () => {
  const { config } = configOf([
    service('front'), service('v1'),
    route('f', [
      { matches: [{ path: { type: 'PathPrefix', value: '/old' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' }, statusCode: 301 } }] },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
        filters: [
          { type: 'URLRewrite', urlRewrite: { hostname: 'api.example', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } },
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '100%' }], remove: ['x-b'] } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-c', value: '"$x"' }] } },
          { type: 'RequestMirror', requestMirror: { backendRef: { name: 'v1', port: 80 } } },
        ],
        timeouts: { backendRequest: '2s' },
        backendRefs: [{ name: 'v1', port: 80, weight: 1, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-backend', value: 'v1' }] } }] }, { name: 'v1', port: 80, weight: 2 }],
      },
    ]),
  ]);
  assert.match(config.text, /http-request redirect location "https:\/\/%\[var\(txn.meshc_host\)\]\/new%\[var\(txn.meshc_rest0\)\]%\[var\(txn.meshc_qs\)\]" code 301 if rule.0 !\{ path -m str -- "\/old" \}/);
  assert.match(config.text, /http-request set-header "x-a" "100%%" if rule.1\n/);
  assert.match(config.text, /http-request add-header "x-backend" "v1" if rule.1 \{ var\(txn.meshc_g\) -m int eq 0 \}/);
  assert.match(config.text, /set-var proc.meshc_l0_r1_t int\(3\)\n    set-var proc.meshc_l0_r1_e0 int\(1\)\n    set-var proc.meshc_l0_r1_e1 int\(3\)\n/);
  assert.match(config.text, /http-response add-header "x-c" "\\"\\\$x\\"" if rule.1/);
  assert.match(config.text, /http-request set-var\(txn.meshc_timeout\) int\(2000\) if rule.1/);
  assert.equal(config.reports, [
    'HTTPRoute default/f: spec.rules[1].filters: RequestMirror is not applied: HAProxy 2.6 has no request mirroring',
    "HTTPRoute default/f: spec.rules[1].timeouts.backendRequest: applied as HAProxy's server timeout (the longest wait for the backend), not as a deadline for the whole backend request",
  ]);
  if (haproxyAvailable()) { const problem = checkConfig(config.text); assert.is(problem, undefined, `${problem}\n${config.text}`); }
});

plan('the agent logs a Service port once when it becomes L7 and once when it is L4 again', () => {
  const log = new ServingLog();
  const l7 = configOf([service('front'), service('v1'), route('h', [{ matches: [{ headers: [{ name: 'x-canary-user', value: 'true' }] }], backendRefs: [{ name: 'v1', port: 80 }] }])]);
  const [line] = log.changes(l7.tables, 'the node proxy is not running');
  assert.match(line!, /^Service default\/front port 80: L7 \(HTTPRoute default\/h rule 0 matches on headers\): the node proxy is not running, so connect\(\) is decided in the kernel on the catch-all rules only/);
  assert.equal(log.changes(l7.tables, 'the node proxy is not running'), []);
  // Steered to the proxy: said once, with where.
  const steered = { ...l7.tables, frontends: l7.tables.frontends.map((f) => ({ ...f, steered: { address: '10.0.0.1', port: 15001 } })) };
  assert.equal(log.changes(steered), ['Service default/front port 80: L7 (HTTPRoute default/h rule 0 matches on headers): served by the node proxy at 10.0.0.1:15001 (connect() to the ClusterIP is steered there)']);
  assert.equal(log.changes(steered), []);
  const l4 = configOf([service('front'), service('v1'), route('w', [{ backendRefs: [{ name: 'v1', port: 80 }] }])]);
  assert.equal(log.changes(l4.tables), ['Service default/front port 80: now L4, decided in the kernel at connect()']);
  assert.equal(log.changes(l4.tables), []);
});

plan('a rule\'s timeout is enforced: a backend slower than timeouts.backendRequest gets 504, a faster one answers (loopback)', async () => {
  if (!haproxyAvailable()) {
    if (process.env.MESHC_REQUIRE_KERNEL === '1') assert.unreachable('haproxy is required (MESHC_REQUIRE_KERNEL=1)');
    return;
  }
  const slow = http.createServer((req, res) => setTimeout(() => res.end('late'), req.url === '/slow' ? 1500 : 0));
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', () => resolve()));
  const backendPort = (slow.address() as AddressInfo).port;
  const objects: Obj[] = [
    service('front'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'v1', namespace: 'default' }, spec: { ports: [{ port: 80, targetPort: backendPort }] } },
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'v1-a', namespace: 'default', labels: { 'kubernetes.io/service-name': 'v1' } }, addressType: 'IPv4', ports: [{ name: '', port: backendPort, protocol: 'TCP' }], endpoints: [{ addresses: ['10.244.0.5'], conditions: { ready: true } }] },
    route('t', [{ timeouts: { request: '2s', backendRequest: '300ms' }, matches: [{ path: { type: 'PathPrefix', value: '/' } }, { headers: [{ name: 'x', value: 'y' }] }], backendRefs: [{ name: 'v1', port: 80 }] }]),
  ];
  const plan = planProxy(compileTables(buildModel(objects.map((object, doc) => ({ file: 't', doc, object })))));
  const port = 18000 + (process.pid % 1000);
  // The model refuses loopback endpoints (as the API server does): the one slot points at the loopback backend.
  const slots = new Map([...plan.pools.keys()].map((name) => [name, { primary: [{ ip: '127.0.0.1', port: backendPort }], backup: [] }]));
  const config = haproxyConfig(plan, { bindAddress: '127.0.0.1', ports: new Map([[plan.listeners[0]!.name, port]]), slots });
  const proxy = await startHaproxy(config.text, [{ host: '127.0.0.1', port }]);
  const get = (p: string) => new Promise<number>((resolve, reject) => http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); }).on('error', reject));
  try {
    assert.is(await get('/fast'), 200);
    assert.is(await get('/slow'), 504);
  } finally {
    await proxy.stop();
    slow.closeAllConnections();
    slow.close();
  }
});

const words = suite('config words and regexes');

words('double-quoted words escape what HAProxy would expand', () => {
  assert.is(quoted('a "b" \\ $HOME é'), '"a \\"b\\" \\\\ \\$HOME \\xc3\\xa9"');
});

words('regexes are printed byte for byte, anchored at both ends', () => {
  assert.equal(pcreFor('/a.*'), { pattern: '\\A(?:\\x2fa(?:(?:[\\x00-\\x09\\x0b-\\x0c\\x0e-\\x7f]|(?:[\\xc2-\\xdf][\\x80-\\xbf]|[\\xe0-\\xef][\\x80-\\xbf]{2}|[\\xf0-\\xf4][\\x80-\\xbf]{3})))*)\\z' });
  assert.equal(pcreFor('^x$|y{2,3}'), { pattern: '\\A(?:(?:\\Ax\\z|y{2,3}))\\z' });
  assert.equal(pcreFor('a\\1'), { unsupported: 'backreferences are not supported' });
});

const ports = suite('listener ports');

ports('new listeners take the lowest free port in name order; existing ones keep theirs', () => {
  const first = assignListenerPorts(['b', 'a']);
  assert.equal([...first], [['a', 15001], ['b', 15002]]);
  const next = assignListenerPorts(['c', 'b', 'aa'], first);
  assert.equal(Object.fromEntries(next), { b: 15002, aa: 15001, c: 15003 });
  assert.throws(() => assignListenerPorts(['x', 'y'], new Map(), { first: 1, last: 1 }), /ports 1-1 are all taken/);
});

golden.run();
plan.run();
words.run();
ports.run();
