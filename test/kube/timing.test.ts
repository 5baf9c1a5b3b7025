// Backoff and coalescing with a manual clock: no sleeping.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Backoff, ManualClock } from '../../src/kube/clock.ts';
import { Coalescer } from '../../src/kube/coalescer.ts';

const backoff = suite('Backoff');

backoff('doubles from the initial delay up to the cap, without jitter', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
  assert.equal(Array.from({ length: 7 }, () => b.next()), [100, 200, 400, 800, 1000, 1000, 1000]);
  assert.is(b.failures, 7);
  b.reset();
  assert.is(b.next(), 100);
});

backoff('jitter spreads each delay within ±jitter and never above the cap', () => {
  const cases: [number, number[]][] = [
    [0, [80, 160, 320, 640, 640]],
    [0.5, [100, 200, 400, 800, 800]],
    [1, [120, 240, 480, 800, 800]],
  ];
  for (const [r, expected] of cases) {
    const b = new Backoff({ initialMs: 100, maxMs: 800, jitter: 0.2 }, () => r);
    assert.equal(Array.from({ length: 5 }, () => b.next()), expected, `random ${r}`);
  }
});

backoff('bad options are refused by name', () => {
  assert.throws(() => new Backoff({ initialMs: 0 }), /initialMs/);
  assert.throws(() => new Backoff({ initialMs: 100, maxMs: 50 }), /maxMs/);
  assert.throws(() => new Backoff({ jitter: 1 }), /jitter/);
  assert.throws(() => new Backoff({ factor: 0.5 }), /factor/);
});

const coalescer = suite('Coalescer');

coalescer('a burst flushes once, after the quiet period', () => {
  const clock = new ManualClock();
  let flushes = 0;
  const c = new Coalescer(clock, 50, 500, () => flushes++);
  for (let i = 0; i < 1000; i++) {
    c.poke();
    clock.advance(0.01);
  }
  assert.is(flushes, 0);
  clock.advance(49);
  assert.is(flushes, 0);
  clock.advance(1);
  assert.is(flushes, 1);
  clock.advance(1000);
  assert.is(flushes, 1);
  assert.not.ok(c.pending);
});

coalescer('a constant stream flushes every maxDelay', () => {
  const clock = new ManualClock();
  const at: number[] = [];
  const c = new Coalescer(clock, 50, 200, () => at.push(clock.now()));
  for (let t = 0; t < 1000; t += 10) {
    c.poke();
    clock.advance(10);
  }
  assert.equal(at, [200, 400, 600, 800, 1000]);
});

coalescer('flushNow and cancel', () => {
  const clock = new ManualClock();
  let flushes = 0;
  const c = new Coalescer(clock, 50, 200, () => flushes++);
  c.flushNow();
  assert.is(flushes, 0, 'nothing pending: no flush');
  c.poke();
  c.flushNow();
  assert.is(flushes, 1);
  c.poke();
  c.cancel();
  clock.advance(1000);
  assert.is(flushes, 1);
  assert.throws(() => new Coalescer(clock, 100, 50, () => {}), /maxDelayMs/);
});

backoff.run();
coalescer.run();
