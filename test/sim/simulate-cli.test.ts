import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { callMeshc as meshc } from '../helpers/meshc.ts';

const seed = suite('meshc simulate on the seed scenario');

seed('a plain request goes to product-api-v1, each pod within ±3% of a third', async () => {
  const r = await meshc('simulate', 'fixtures/product-api', '--to', 'product-api:80', '--connections', '30000', '--json');
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.is(out.connections, 30000);
  assert.is(out.refused, 0);
  assert.equal(out.route, { namespace: 'default', name: 'product-api-routing', rule: 1 });
  assert.is(out.service.name, 'product-api');
  assert.is(out.service.port, 80);
  assert.is(out.backends.length, 3);
  for (const b of out.backends) {
    assert.is(b.service, 'default/product-api-v1');
    assert.match(b.pod, /^default\/product-api-v1-/);
    assert.is(b.port, 8080);
    assert.ok(Math.abs(b.count / 30000 - 1 / 3) < 0.03, `${b.pod}: ${b.count}`);
  }
});

seed('X-Canary-User: true goes to the v2 pod', async () => {
  const r = await meshc('simulate', 'fixtures/product-api', '--to', 'product-api:80', '--connections', '1000', '--header', 'X-Canary-User: true', '--json');
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.route, { namespace: 'default', name: 'product-api-routing', rule: 0 });
  assert.is(out.backends.length, 1);
  assert.is(out.backends[0].service, 'default/product-api-v2');
  assert.is(out.backends[0].count, 1000);
});

seed('the same seed gives the same output; another seed another one', async () => {
  const args = ['simulate', 'fixtures/product-api', '--to', 'product-api.default:80', '--connections', '500', '--json'];
  const a = await meshc(...args, '--seed', '5');
  const b = await meshc(...args, '--seed', '5');
  const c = await meshc(...args, '--seed', '6');
  assert.is(a.stdout, b.stdout);
  assert.is.not(a.stdout, c.stdout);
});

seed('the table output names the route, the pods and their shares', async () => {
  const r = await meshc('simulate', 'fixtures/product-api', '--to', 'product-api:80', '--connections', '300');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /HTTPRoute default\/product-api-routing, rule 1/);
  assert.match(r.stdout, /product-api-v1-\S+\s+10\.244\.\d+\.\d+:8080\s+\d+\s+\d+\.\d%/);
});

seed.run();

const errors = suite('meshc simulate errors');

errors('bad usage exits 2 with the message on stderr', async () => {
  for (const args of [['simulate'], ['simulate', 'fixtures/product-api'], ['simulate', 'fixtures/product-api', '--to', 'nope'], ['simulate', 'fixtures/product-api', '--to', 'a:80', '--bogus']]) {
    const r = await meshc(...args);
    assert.is(r.status, 2, args.join(' '));
    assert.is(r.stdout, '');
    assert.ok(r.stderr.length > 0);
  }
  assert.match((await meshc('simulate', 'fixtures/product-api', '--to', 'a:80', '--bogus')).stderr, /bogus/);
});

errors('bad input exits 1: missing path, unknown service, unknown port', async () => {
  assert.is((await meshc('simulate', 'fixtures/nowhere', '--to', 'a:80')).status, 1);
  const svc = await meshc('simulate', 'fixtures/product-api', '--to', 'nosuch:80');
  assert.is(svc.status, 1);
  assert.match(svc.stderr, /Service default\/nosuch not found/);
  const port = await meshc('simulate', 'fixtures/product-api', '--to', 'product-api:81');
  assert.is(port.status, 1);
  assert.match(port.stderr, /has no port 81/);
});

errors('broken manifests are reported and the valid rest is simulated; --strict makes them fatal', async () => {
  const r = await meshc('simulate', 'fixtures/bad', '--to', 'valid:80', '--connections', '1000', '--json');
  assert.is(r.status, 0, r.stderr);
  for (const file of ['01-syntax-error', '03-bad-ip', '04-bad-port', '05-duplicate', '06-missing-backend', '07-named-port-missing']) {
    assert.match(r.stderr, new RegExp(`fixtures/bad/${file}\\.yaml:\\d+ \\(doc \\d+\\)`), file);
  }
  const out = JSON.parse(r.stdout);
  assert.is(out.connections, 1000);
  // The route sends half of its weight to a Service that does not exist: that half is refused.
  assert.ok(Math.abs(out.refused / 1000 - 0.5) < 0.06, `refused ${out.refused}`);
  assert.is((await meshc('simulate', 'fixtures/bad', '--to', 'valid:80', '--strict')).status, 1);
});

errors('a Service with no usable backend counts every connection as refused', async () => {
  const r = await meshc('simulate', 'fixtures/terminating', '--to', 'orders:80', '--connections', '100', '--json');
  assert.is(r.status, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).refused, 0, 'serving-terminating endpoints are used');
});

errors.run();

const query = suite('meshc simulate: --path with a query string, --strict');

const deployment = (name: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${name}}\nspec: {replicas: 1, selector: {matchLabels: {app: ${name}}}, template: {metadata: {labels: {app: ${name}}}}}\n---\n` +
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {selector: {app: ${name}}, ports: [{port: 80}]}\n---\n`;
const queryRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: by-query}
spec:
  parentRefs: [{group: "", kind: Service, name: api, port: 80}]
  rules:
  - matches: [{path: {type: Exact, value: /x}, queryParams: [{name: a, value: b}]}]
    backendRefs: [{name: api-v2, port: 80}]
  - backendRefs: [{name: api-v1, port: 80}]
`;
let dir = '';
query.before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'meshc-sim-query-'));
  writeFileSync(path.join(dir, 'app.yaml'), deployment('api') + deployment('api-v1') + deployment('api-v2') + queryRoute);
  writeFileSync(path.join(dir, 'timeout.yaml'), queryRoute.replace('by-query', 'with-timeout').replace('  - backendRefs: [{name: api-v1, port: 80}]', '  - backendRefs: [{name: api-v1, port: 80}]\n    timeouts: {request: 5s}'));
});
query.after(() => rmSync(dir, { recursive: true, force: true }));

/** [--path, extra args, the Service that gets every request] */
const queryCases: [string, string[], string][] = [
  ['/x?a=b', [], 'default/api-v2'],
  ['/x?a=c', [], 'default/api-v1'],
  ['/x', ['--query', 'a=b'], 'default/api-v2'],
  ['/x?c=d', ['--query', 'a=b'], 'default/api-v2'],
  ['/x?a=%62', [], 'default/api-v2'],
  ['/x?a=b#frag', [], 'default/api-v2'],
  ['/x?a=%zz', [], 'default/api-v1'],
];
for (const [p, extra, expected] of queryCases) {
  query(`--path '${p}' ${extra.join(' ')} goes to ${expected}`, async () => {
    const r = await meshc('simulate', path.join(dir, 'app.yaml'), '--to', 'api:80', '--connections', '50', '--path', p, ...extra, '--json');
    assert.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal([...new Set(out.backends.filter((b: { count: number }) => b.count > 0).map((b: { service: string }) => b.service))], [expected]);
  });
}

query('--header with CR, LF or NUL in it: a usage error', async () => {
  const r = await meshc('simulate', path.join(dir, 'app.yaml'), '--to', 'api:80', '--header', 'X-A: 1\r\nX-B: 2');
  assert.is(r.status, 2);
  assert.match(r.stderr, /contains CR, LF or NUL/);
});

query('--path must start with "/": a usage error', async () => {
  const r = await meshc('simulate', path.join(dir, 'app.yaml'), '--to', 'api:80', '--path', 'x?a=b');
  assert.is(r.status, 2);
  assert.match(r.stderr, /--path "x\?a=b" must start with "\/"/);
});

query('a field meshc does not apply is reported, located; --strict makes it fatal', async () => {
  const file = path.join(dir, 'timeout.yaml');
  const plain = await meshc('simulate', path.join(dir, 'app.yaml'), file, '--to', 'api:80', '--connections', '10');
  assert.is(plain.status, 0, plain.stderr);
  assert.match(plain.stderr, /timeout\.yaml:\d+ \(doc 1\) warning: HTTPRoute default\/with-timeout: spec\.rules\[1\]\.timeouts: is not applied/);
  const strict = await meshc('simulate', path.join(dir, 'app.yaml'), file, '--to', 'api:80', '--connections', '10', '--strict');
  assert.is(strict.status, 1);
  assert.match(strict.stderr, /0 error\(s\) and 1 warning\(s\) in the manifests \(--strict\)/);
  assert.is((await meshc('simulate', path.join(dir, 'app.yaml'), '--to', 'api:80', '--connections', '10', '--strict')).status, 0);
});

query.run();
