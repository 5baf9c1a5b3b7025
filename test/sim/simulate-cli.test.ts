import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function meshc(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/meshc.js', ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const seed = suite('meshc simulate on the seed scenario');

seed('a plain request goes to product-api-v1, each pod within ±3% of a third', () => {
  const r = meshc('simulate', 'fixtures/product-api', '--to', 'product-api:80', '--connections', '30000', '--json');
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

seed('X-Canary-User: true goes to the v2 pod', () => {
  const r = meshc('simulate', 'fixtures/product-api', '--to', 'product-api:80', '--connections', '1000', '--header', 'X-Canary-User: true', '--json');
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.route, { namespace: 'default', name: 'product-api-routing', rule: 0 });
  assert.is(out.backends.length, 1);
  assert.is(out.backends[0].service, 'default/product-api-v2');
  assert.is(out.backends[0].count, 1000);
});

seed('the same seed gives the same output; another seed another one', () => {
  const args = ['simulate', 'fixtures/product-api', '--to', 'product-api.default:80', '--connections', '500', '--json'];
  const a = meshc(...args, '--seed', '5');
  const b = meshc(...args, '--seed', '5');
  const c = meshc(...args, '--seed', '6');
  assert.is(a.stdout, b.stdout);
  assert.is.not(a.stdout, c.stdout);
});

seed('the table output names the route, the pods and their shares', () => {
  const r = meshc('simulate', 'fixtures/product-api', '--to', 'product-api:80', '--connections', '300');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /HTTPRoute default\/product-api-routing, rule 1/);
  assert.match(r.stdout, /product-api-v1-\S+\s+10\.244\.\d+\.\d+:8080\s+\d+\s+\d+\.\d%/);
});

seed.run();

const errors = suite('meshc simulate errors');

errors('bad usage exits 2 with the message on stderr', () => {
  for (const args of [['simulate'], ['simulate', 'fixtures/product-api'], ['simulate', 'fixtures/product-api', '--to', 'nope'], ['simulate', 'fixtures/product-api', '--to', 'a:80', '--bogus']]) {
    const r = meshc(...args);
    assert.is(r.status, 2, args.join(' '));
    assert.is(r.stdout, '');
    assert.ok(r.stderr.length > 0);
  }
  assert.match(meshc('simulate', 'fixtures/product-api', '--to', 'a:80', '--bogus').stderr, /bogus/);
});

errors('bad input exits 1: missing path, unknown service, unknown port', () => {
  assert.is(meshc('simulate', 'fixtures/nowhere', '--to', 'a:80').status, 1);
  const svc = meshc('simulate', 'fixtures/product-api', '--to', 'nosuch:80');
  assert.is(svc.status, 1);
  assert.match(svc.stderr, /Service default\/nosuch not found/);
  const port = meshc('simulate', 'fixtures/product-api', '--to', 'product-api:81');
  assert.is(port.status, 1);
  assert.match(port.stderr, /has no port 81/);
});

errors('broken manifests are reported and the valid rest is simulated; --strict makes them fatal', () => {
  const r = meshc('simulate', 'fixtures/bad', '--to', 'valid:80', '--connections', '1000', '--json');
  assert.is(r.status, 0, r.stderr);
  for (const file of ['01-syntax-error', '03-bad-ip', '04-bad-port', '05-duplicate', '06-missing-backend', '07-named-port-missing']) {
    assert.match(r.stderr, new RegExp(`fixtures/bad/${file}\\.yaml:\\d+ \\(doc \\d+\\)`), file);
  }
  const out = JSON.parse(r.stdout);
  assert.is(out.connections, 1000);
  // The route sends half of its weight to a Service that does not exist: that half is refused.
  assert.ok(Math.abs(out.refused / 1000 - 0.5) < 0.06, `refused ${out.refused}`);
  assert.is(meshc('simulate', 'fixtures/bad', '--to', 'valid:80', '--strict').status, 1);
});

errors('a Service with no usable backend counts every connection as refused', () => {
  const r = meshc('simulate', 'fixtures/terminating', '--to', 'orders:80', '--connections', '100', '--json');
  assert.is(r.status, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).refused, 0, 'serving-terminating endpoints are used');
});

errors.run();
