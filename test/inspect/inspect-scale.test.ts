// meshc inspect at scale, on real pinned maps: 100,000 frontends are all read, decoded and printed
// (the last frontend and its pod included), by the decoder and by the CLI, and every frontend on
// one shared backend table (the shape that made the old decoder quadratic) decodes each
// frontend's backends. How fast is measured in bench/inspect.ts, not here (issue 11 item 7:
// 100,000 frontends under 5 s, and linear: a run 10 times larger against one in the same bench).
import { runMeshc } from '../helpers/meshc.ts';
import * as assert from 'uvu/assert';
import { decodeServices } from '../../src/inspect/decode.ts';
import { formatInspect } from '../../src/inspect/format.ts';
import { readPinned } from '../../src/inspect/read.ts';
import { kernelSkipReason, kernelSuite, makePinDir, removePinDir } from '../kernel/env.ts';
import { fillPinnedMaps, frontendName, podName } from './scale.ts';

/** Reads, decodes and prints the pins as `meshc inspect` does, and checks every frontend is there. */
function inspectAll(pin: string, count: number, lastPod = podName(count - 1)): void {
  const result = decodeServices(readPinned(pin));
  assert.equal(result.problems, []);
  assert.is(result.services.length, count);
  assert.ok(result.services.every((s) => s.backends.length === 1), 'each frontend has its backend');
  const text = formatInspect(result);
  assert.ok(text.includes(`${frontendName(count - 1)}`) && text.includes(lastPod), 'the last frontend and its pod are printed');
}

kernelSuite('meshc inspect: 100,000 frontends', kernelSkipReason(), (test) => {
  test('100,000 frontends, each with its own backend table: decoded, printed, and by the CLI as JSON', () => {
    const pin = makePinDir('inspect-scale');
    try {
      fillPinnedMaps(pin, 100_000);
      inspectAll(pin, 100_000);
      const r = runMeshc(['inspect', '--json', '--pin', pin], { maxBuffer: 1 << 30 });
      assert.is(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.is(out.services.length, 100_000);
      assert.equal(out.services[0].backends[0].pod, podName(0));
    } finally {
      removePinDir(pin);
    }
  });

  test('40,000 frontends on one shared backend table', () => {
    const pin = makePinDir('inspect-shared');
    try {
      fillPinnedMaps(pin, 40_000, { shared: true });
      inspectAll(pin, 40_000, podName(0));
    } finally {
      removePinDir(pin);
    }
  });
});
