// meshc demo end to end: `meshc demo --json --requests 100` must route every request (getpeername
// showing the ClusterIP), give each phase a split within binomial tolerance of the weights and
// replicas, send nothing to a pod outside the current endpoints, and leave nothing behind (no
// netns, cgroup or pins with its prefix). Ctrl-C in the middle cleans up too. Without root it
// says so plainly.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existingWithPrefix } from '../../src/demo/sandbox.ts';
import { kernelSkipReason, kernelSuite } from '../kernel/env.ts';
import { runMeshc, spawnMeshc } from '../helpers/meshc.ts';

const REQUESTS = 100;

/** Parsed JSON output, checked field by field. */
type Obj = any;

/** |observed - n·p| within 4.5 standard deviations of a binomial (plus one for rounding). */
function withinTolerance(observed: number, n: number, p: number): boolean {
  return Math.abs(observed - n * p) <= 4.5 * Math.sqrt(n * p * (1 - p)) + 1;
}

function netnsExists(name: string): boolean {
  return (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').some((l) => l.split(' ')[0] === name);
}

const unprivileged = suite('demo: without root');

unprivileged('refuses with a clear message', () => {
  // As root the demo is run as nobody (setpriv, from util-linux); otherwise as the caller.
  const root = process.getuid?.() === 0;
  if (root) assert.is(spawnSync('sh', ['-c', 'command -v setpriv'], { stdio: 'ignore' }).status, 0, 'setpriv (util-linux) is needed to drop root');
  const r = runMeshc(['demo'], root ? { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] } : {});
  assert.is(r.status, 1);
  assert.match(r.stderr, 'meshc demo: needs root');
});

unprivileged.run();

kernelSuite('demo: live', kernelSkipReason({ cgroup: true, netns: true }), (test) => {
  test(`meshc demo --json --requests ${REQUESTS}: splits within tolerance, nothing left behind`, () => {
    const before = new Set(existingWithPrefix('meshc-demo'));
    const r = runMeshc(['demo', '--json', '--requests', String(REQUESTS)], { timeout: 120_000 });
    assert.is(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.is(summary.error, undefined);
    assert.equal(summary.leftovers, []);

    const [plain, canary] = summary.simulator;
    assert.ok(plain.backends.length === 3 && plain.backends.every((b: Obj) => b.service === 'default/product-api-v1'), JSON.stringify(plain));
    assert.ok(canary.backends.length === 1 && canary.backends[0].service === 'default/product-api-v2' && canary.backends[0].share === 1);

    // The seed's header canary, live through the agent's node proxy.
    assert.match(summary.canaryServing, /^agent: Service default\/product-api port 80: L7 \(HTTPRoute default\/product-api-routing rule 0 matches on headers\): served by the node proxy at 10\.244\.0\.1:\d+/);
    assert.equal(summary.canary.map((c: Obj) => [c.weights, c.canaryHeader]), [
      [{ v1: 100, v2: 0 }, false],
      [{ v1: 100, v2: 0 }, true],
      [{ v1: 90, v2: 10 }, false],
      [{ v1: 90, v2: 10 }, true],
    ]);
    for (const c of summary.canary as Obj[]) {
      assert.is(c.failed, 0, `${c.title}: ${JSON.stringify(c.errors)}`);
      assert.equal(c.peers, { [`${summary.clusterIP}:80`]: REQUESTS }, 'getpeername() shows the ClusterIP');
      assert.is(c.versions.v1 + c.versions.v2, REQUESTS);
      if (c.expectedV2 === 0 || c.expectedV2 === 1) assert.is(c.versions.v2, REQUESTS * c.expectedV2, `${c.title} (${JSON.stringify(c.weights)})`);
      else assert.ok(withinTolerance(c.versions.v2, REQUESTS, c.expectedV2), `${c.title}: v2 ${c.versions.v2}/${REQUESTS}, expected ${c.expectedV2}`);
    }
    assert.is(summary.canary[2].expectedV2, 0.1);

    assert.equal(summary.phases.map((p: Obj) => [p.weights, p.replicas]), [
      [{ v1: 90, v2: 10 }, { v1: 3, v2: 1 }],
      [{ v1: 50, v2: 50 }, { v1: 3, v2: 1 }],
      [{ v1: 50, v2: 50 }, { v1: 3, v2: 2 }],
      [{ v1: 50, v2: 50 }, { v1: 1, v2: 2 }],
    ]);
    for (const phase of summary.phases as Obj[]) {
      assert.is(phase.failed, 0, `${phase.title}: ${JSON.stringify(phase.errors)}`);
      assert.equal(phase.peers, { [`${summary.clusterIP}:80`]: REQUESTS }, 'getpeername() shows the ClusterIP');
      assert.is(phase.pods.reduce((n: number, p: Obj) => n + p.count, 0), REQUESTS);
      for (const pod of phase.pods) {
        if (pod.expected === 0) assert.is(pod.count, 0, `${phase.title}: ${pod.pod} is not an endpoint`);
        assert.ok(withinTolerance(pod.count, REQUESTS, pod.expected), `${phase.title}: ${pod.pod} ${pod.count}/${REQUESTS}, expected ${pod.expected}`);
      }
      const running = phase.pods.filter((p: Obj) => p.expected > 0).length;
      assert.is(running, phase.replicas.v1 + phase.replicas.v2);
      for (const v of ['v1', 'v2']) {
        const { count, expected } = phase.versions[v];
        assert.is(expected, phase.weights[v] / (phase.weights.v1 + phase.weights.v2));
        assert.ok(withinTolerance(count, REQUESTS, expected), `${phase.title}: ${v} ${count}/${REQUESTS}, expected ${expected}`);
      }
    }

    const { netns, cgroup, pin, tmp } = summary.sandbox;
    assert.match(netns, /^meshc-demo-[0-9a-f]{8}$/);
    assert.match(pin, /^\/sys\/fs\/bpf\/meshc-demo-[0-9a-f]{8}$/);
    assert.not.ok(netnsExists(netns), `netns ${netns} is gone`);
    assert.not.ok(existsSync(cgroup), `cgroup ${cgroup} is gone`);
    assert.not.ok(existsSync(pin), `pins ${pin} are gone`);
    assert.not.ok(existsSync(tmp), `temp ${tmp} is gone`);
    const left = existingWithPrefix('meshc-demo').filter((x) => !before.has(x));
    assert.equal(left, []);
  });

  test('SIGINT in the middle: exit 130, everything removed', async () => {
    const demo = spawnMeshc(['demo', '--json', '--requests', '50'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let netns = '';
    let cgroup = '';
    let pin = '';
    const lines: string[] = [];
    const interrupted = new Promise<void>((resolve) => {
      createInterface({ input: demo.stderr! }).on('line', (line) => {
        lines.push(line);
        const made = /network namespace (\S+), cgroup (\S+), pins (\S+)/.exec(line);
        if (made) [, netns, cgroup, pin] = made as unknown as [string, string, string, string];
        if (/^\s+b\) /.test(line)) {
          demo.kill('SIGINT');
          resolve();
        }
      });
    });
    const timer = setTimeout(() => demo.kill('SIGKILL'), 60_000);
    const [code] = await once(demo, 'exit');
    clearTimeout(timer);
    await interrupted;
    assert.is(code, 130, lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('SIGINT: cleaning up')));
    assert.ok(netns && cgroup && pin, 'the demo said what it made');
    assert.not.ok(netnsExists(netns), `netns ${netns} is gone`);
    assert.not.ok(existsSync(cgroup), `cgroup ${cgroup} is gone`);
    assert.not.ok(existsSync(pin), `pins ${pin} are gone`);
  });
});
