// Every refusal counter that `meshc inspect --json` and the agent's metrics show has a name (issue
// 12 item 6: there was a key "refused reason-6"): mc_metrics' refusal slots of codes without a
// name are counted as `other`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { foldRefusals, METRIC_NAMES, REFUSAL_METRICS } from '../../src/glue/counters.ts';
import { MC_METRIC } from '../../src/generated/glue.ts';
import { REASONS } from '../../src/generated/reasons.ts';
import { decodeServices } from '../../src/inspect/decode.ts';

const test = suite('mc_metrics counters: every one has a name');

test('the refusal counters are the named reasons and other', () => {
  assert.equal(REFUSAL_METRICS.map((m) => m.reason), [...REASONS.slice(1), 'other']);
  for (const [, label] of METRIC_NAMES) assert.not.match(label, /reason-\d/);
  assert.equal(new Set(METRIC_NAMES.map(([, label]) => label)).size, METRIC_NAMES.length, 'no label twice');
});

test('a slot between the named reasons and other (a user policy\'s own code) counts as other', () => {
  const other = MC_METRIC['refused-other'];
  assert.ok(REASONS.length < other, `a slot without a name lies below ${other}`);
  const totals = Array.from({ length: 13 }, (_, i) => BigInt(i * 10));
  const folded = foldRefusals(totals);
  let unnamed = 0n;
  for (let i = REASONS.length; i < other; i++) {
    unnamed += totals[i]!;
    assert.is(folded[i], undefined, `slot ${i} folded`);
  }
  assert.is(folded[other], totals[other]! + unnamed);
  for (let i = 0; i < REASONS.length; i++) assert.is(folded[i], totals[i]);
  for (let i = other + 1; i < totals.length; i++) assert.is(folded[i], totals[i]);
  // The sum over all refusal slots is kept.
  const refusals = (t: (bigint | undefined)[]) => t.slice(1, other + 1).reduce<bigint>((a, b) => a + (b ?? 0n), 0n);
  assert.is(refusals(folded), refusals(totals));
});

test('inspect --json\'s metrics: named keys only, with the unnamed slots in "refused other"', () => {
  const metrics = foldRefusals(Array.from({ length: 16 }, (_, i) => BigInt(i)));
  const { metrics: labelled } = decodeServices({ rows: new Map(), names: new Map(), conns: new Map(), metrics });
  const keys = Object.keys(labelled!);
  assert.equal(keys.filter((k) => k.startsWith('refused ')), [...REASONS.slice(1), 'other'].map((r) => `refused ${r}`));
  assert.is(labelled!['refused other'], String(6 + 7));
});

test.run();
