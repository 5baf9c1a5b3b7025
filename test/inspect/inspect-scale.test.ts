// meshc inspect at scale, on real pinned maps: 100,000 frontends are read, decoded and printed in
// under 5 s of CPU, and the work grows linearly, also when every frontend shares one backend
// table (the shape that made the old decoder quadratic: 40,000 took 34 s). CPU time, not wall
// time, is asserted, so a busy machine does not fail the test; bench/inspect.ts reports both.
import { runMeshc } from '../helpers/meshc.ts';
import * as assert from 'uvu/assert';
import { decodeServices } from '../../src/inspect/decode.ts';
import { formatInspect } from '../../src/inspect/format.ts';
import { readPinned } from '../../src/inspect/read.ts';
import { kernelSkipReason, kernelSuite, makePinDir, removePinDir } from '../kernel/env.ts';
import { fillPinnedMaps, frontendName, podName } from './scale.ts';

const TARGET_CPU_MS = 5000;

/** CPU milliseconds of this process spent in `work`. */
function cpuMs(work: () => void): number {
  const before = process.cpuUsage();
  work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** Reads, decodes and prints the pins as `meshc inspect` does; returns the CPU it took. */
function inspectCpu(pin: string, count: number, lastPod = podName(count - 1)): number {
  let services = 0;
  let text = '';
  const ms = cpuMs(() => {
    const result = decodeServices(readPinned(pin));
    services = result.services.length;
    assert.equal(result.problems, []);
    text = formatInspect(result);
  });
  assert.is(services, count);
  assert.ok(text.includes(`${frontendName(count - 1)}`) && text.includes(lastPod), 'the last frontend and its pod are printed');
  return ms;
}

kernelSuite('meshc inspect: linear in the frontends', kernelSkipReason(), (test) => {
  test('100,000 frontends, each with its own backend table', () => {
    const pin = makePinDir('inspect-scale');
    try {
      fillPinnedMaps(pin, 100_000);
      const ms = inspectCpu(pin, 100_000);
      console.log(`  inspect: 100,000 frontends in ${ms.toFixed(0)} ms of CPU`);
      assert.ok(ms < TARGET_CPU_MS, `${ms.toFixed(0)} ms of CPU`);
      const started = performance.now();
      const r = runMeshc(['inspect', '--json', '--pin', pin], { maxBuffer: 1 << 30 });
      assert.is(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.is(out.services.length, 100_000);
      assert.equal(out.services[0].backends[0].pod, podName(0));
      console.log(`  meshc inspect --json: ${(performance.now() - started).toFixed(0)} ms wall, this machine's load included`);
    } finally {
      removePinDir(pin);
    }
  });

  test('every frontend on one shared backend table: 4x the frontends is at most ~4x the work', () => {
    const runs = [10_000, 40_000].map((count) => {
      const pin = makePinDir('inspect-shared');
      try {
        fillPinnedMaps(pin, count, { shared: true });
        inspectCpu(pin, count, podName(0)); // warms the JIT on this shape
        return inspectCpu(pin, count, podName(0));
      } finally {
        removePinDir(pin);
      }
    });
    const ratio = runs[1]! / runs[0]!;
    console.log(`  inspect, shared table: 10,000 in ${runs[0]!.toFixed(0)} ms, 40,000 in ${runs[1]!.toFixed(0)} ms of CPU (x${ratio.toFixed(1)})`);
    // Linear is x4; quadratic would be x16. The margin is for GC and a busy machine.
    assert.ok(ratio < 8, `x${ratio.toFixed(1)}`);
  });
});
