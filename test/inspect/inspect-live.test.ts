// meshc inspect on real pinned maps: the agent syncs fixtures/demo once into a pin directory of
// the test's own (hooks on a cgroup of its own), and `meshc inspect --json` must say what the
// manifests say, read straight from the YAML: every Service's ClusterIP and port, every endpoint's
// IP, port, state and pod name, the route's weights. Also the error for a pin dir without maps.
import { readFileSync, readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { Sandbox } from '../../src/demo/sandbox.ts';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { callMeshc, ROOT, runMeshc } from '../helpers/meshc.ts';

const FIXTURE = `${ROOT}/fixtures/demo`;


/** Parsed YAML and JSON output, checked field by field. */
type Obj = any;

function fixtureObjects(): Obj[] {
  return readdirSync(FIXTURE).flatMap((file) => parseAllDocuments(readFileSync(`${FIXTURE}/${file}`, 'utf8')).map((d) => d.toJS()));
}

const errors = suite('inspect: errors');

errors('a pin directory without meshc maps is reported with the agent hint', async () => {
  const r = await callMeshc('inspect', '--pin', '/nonexistent/meshc-pin');
  assert.is(r.status, 1);
  assert.match(r.stderr, 'no pinned meshc maps at /nonexistent/meshc-pin: is the agent running? (meshc agent --pin /nonexistent/meshc-pin)');
  assert.is((await callMeshc('inspect', '--bogus')).status, 2);
});

errors.run();

kernelSuite('inspect: live pinned maps match the manifests', kernelSkipReason({ cgroup: true }), (test) => {
  test('every service VIP/port, every backend IP/port/state/pod, the route weights', async () => {
    const sandbox = new Sandbox({ prefix: 'meshc-test-inspect' });
    try {
      sandbox.create([]);
      const agent = runMeshc(['agent', '--manifests', FIXTURE, '--cgroup', sandbox.cgroup, '--pin', sandbox.pin]);
      assert.is(agent.status, 0, agent.stderr);
      const r = await callMeshc('inspect', '--json', '--pin', sandbox.pin);
      assert.is(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.problems, []);
      const objects = fixtureObjects();
      const services = objects.filter((o) => o.kind === 'Service');
      const slices = objects.filter((o) => o.kind === 'EndpointSlice');
      assert.is(out.services.length, services.length);
      for (const svc of services) {
        const port = svc.spec.ports[0];
        const name = `${svc.metadata.namespace}/${svc.metadata.name}:${port.port}/TCP`;
        const s = out.services.find((x: Obj) => x.name === name);
        assert.ok(s, `${name} is in the maps`);
        assert.is(s.vip, svc.spec.clusterIP);
        assert.is(s.port, port.port);
        assert.is(s.protocol, 'TCP');
        const slice = slices.find((x) => x.metadata.labels['kubernetes.io/service-name'] === svc.metadata.name);
        const expected = slice.endpoints
          .map((e: Obj) => `${e.addresses[0]}:${slice.ports[0].port} ${e.conditions.ready ? 'ready' : 'terminating'} ${e.targetRef.namespace}/${e.targetRef.name}`)
          .sort();
        assert.equal(s.backends.map((b: Obj) => `${b.ip}:${b.port} ${b.state} ${b.pod}`).sort(), expected, name);
        assert.ok(s.backends.every((b: Obj) => b.conns === 0), 'no live connections');
      }
      const route = objects.find((o) => o.kind === 'HTTPRoute');
      const main = out.services.find((x: Obj) => x.name === 'default/product-api:80/TCP');
      const refs = route.spec.rules[0].backendRefs;
      assert.equal(
        main.groups.map((g: Obj) => [g.weight, g.targets]),
        refs.map((ref: Obj) => [ref.weight, [`default/${ref.name}:${ref.port}/TCP`]]),
      );
      const text = await callMeshc('inspect', '--pin', sandbox.pin);
      assert.is(text.status, 0, text.stderr);
      assert.match(text.stdout, /10\.96\.100\.10:80\/TCP\s+default\/product-api:80\/TCP\s+random/);
      assert.match(text.stdout, /group 1\s+weight 10 \(10\.0%\)\s+-> default\/product-api-v2:80\/TCP/);
    } finally {
      const left = sandbox.cleanupSync();
      assert.equal(left, []);
    }
  });
});
