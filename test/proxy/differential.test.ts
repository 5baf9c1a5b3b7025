// The node proxy against the Wasm matcher: >= 10,000 random requests over random routes and every
// Gateway API conformance case that applies to a mesh, through both, the same outcome required
// (status, backend Service, redirect Location, the target and headers the backend receives, the
// response's headers; the weighted pick gets the same random number on both sides). Every fifth
// batch of requests goes over h2c (HTTP/2 with prior knowledge) to the same listener. One scenario
// in five has consumer routes too, served on a listener of their own.
// Runs differential-run.ts in a network namespace of its own (pod addresses exist only there).
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kernelSuite } from '../kernel/env.ts';
import { haproxyAvailable } from './haproxy-process.ts';
import type { DifferentialSummary } from './differential-run.ts';

const RUNNER = fileURLToPath(new URL('./differential-run.ts', import.meta.url));
const NETNS_SETUP = 'ip link set lo up && ip addr add 10.0.0.1/32 dev lo && ip route add local 10.244.0.0/16 dev lo && exec "$@"';

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (a network namespace of its own)';
  if (!haproxyAvailable()) return 'needs haproxy (apt-get install -y haproxy)';
  if (spawnSync('sh', ['-c', 'command -v unshare && command -v ip'], { stdio: 'ignore' }).status !== 0) return 'needs unshare and ip';
  return undefined;
}

kernelSuite('proxy differential', skipReason(), (test) => {
  test('random routes and the conformance cases: HAProxy decides as the Wasm matcher', () => {
    const run = spawnSync('unshare', ['-n', 'sh', '-c', NETNS_SETUP, 'sh', process.execPath, '--import', 'tsx', RUNNER], {
      encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20,
      env: { ...process.env, MESHC_DIFF_SCENARIOS: '50', MESHC_DIFF_REQUESTS: '200' },
    });
    assert.is(run.status, 0, `runner failed: ${run.stderr}`);
    const summary = JSON.parse(run.stdout) as DifferentialSummary;
    assert.ok(summary.random.requests >= 10_000, `${summary.random.requests} random requests`);
    for (const status of ['200', '404', '500', '503']) assert.ok((summary.random.byStatus[status] ?? 0) > 100, `random requests with status ${status}: ${JSON.stringify(summary.random.byStatus)}`);
    assert.ok(summary.random.consumerListeners >= 5, `${summary.random.consumerListeners} consumer-route listeners`);
    for (const [what, n] of Object.entries(summary.random.filtered)) assert.ok(n > 100, `random answers with ${what}: ${n}`);
    assert.ok(summary.conformance.applicable >= 90, `${summary.conformance.applicable} conformance cases applied`);
    for (const line of summary.conformance.meshSemantics) console.log(`  (Service parent: no ReferenceGrant needed, GEP-1426) ${line}`);
    assert.equal(summary.conformance.expectationFailures, [], 'Wasm and HAProxy agree, but not with what the case expects');
    assert.equal(summary.reports, [], 'nothing reported as not expressible');
    assert.equal(summary.mismatches.slice(0, 5), [], `${summary.mismatches.length} requests decided differently`);
  });
});
