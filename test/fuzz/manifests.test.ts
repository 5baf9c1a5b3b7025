// The manifest fuzzer (test/fuzz/run.ts) for a bounded time: MESHC_FUZZ_SECONDS (default 60, as
// issue 12 asks of CI) with seed MESHC_FUZZ_SEED (default 12; `npm run fuzz` picks a new one).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzz, loadSeeds } from './run.ts';
import { mutateStructure, mutateText, Random } from './mutate.ts';

const seconds = Number(process.env.MESHC_FUZZ_SECONDS ?? 60);
const seed = Number(process.env.MESHC_FUZZ_SEED ?? 12);

const test = suite('fuzz: mutated fixtures end in objects and diagnostics, in linear time');

test('the mutations are deterministic per seed and change the input', () => {
  const seeds = loadSeeds();
  assert.ok(seeds.length >= 20, `${seeds.length} fixture files`);
  const first = seeds.find((s) => s.file.endsWith('product-api-httproute.yaml'))!;
  const run = (n: number) => [mutateText(first.text, new Random(n)), mutateStructure(first.documents, new Random(n))];
  assert.equal(run(5), run(5));
  assert.not.equal(run(5), run(6));
  for (const text of run(7)) assert.is.not(text, first.text);
});

test(`${seconds} s of mutated inputs, seed ${seed}`, () => {
  const stats = fuzz({ seconds, seed });
  console.log(`  fuzz: ${JSON.stringify(stats)}`);
  assert.ok(stats.inputs > 0);
  assert.ok(stats.diagnostics > 0, 'mutations reach the validation');
  if (seconds >= 10) assert.ok(stats.growthChecks > 0, 'growth was checked');
});

test.run();
