// Differential test: policy.wasm and the kernel's BPF policy (through the syscall harness) get
// the same tables and the same decision inputs in the same order; every decision must agree,
// byte for byte (verdict, reason, backend id, slot, address, port, service id, table).
// At least MESHC_DIFF_DECISIONS (default 1,000,000) decisions per scenario. Needs root.
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { compilePolicy, type CompileResult } from '../../src/build/compile.ts';
import { loadManifests } from '../../src/model/load-files.ts';
import type { Model } from '../../src/model/types.ts';
import { KernelDecider, WasmDecider } from './deciders.ts';
import { describe, emptyStats, mergeStats, runDifferential, type RunStats } from './differential.ts';
import { kernelSkipReason, kernelSuite, ROOT } from './env.ts';
import { BASE_PROFILE, randomModel, Rng, type Profile } from './random-model.ts';

const DECISIONS = Number(process.env.MESHC_DIFF_DECISIONS ?? 1_000_000);
const MODELS = 4;

interface Scenario {
  name: string;
  profile: Partial<Profile>;
  leastConn?: boolean;
  /** Steer frontends with producer routes to a node proxy listener (RunOptions.steer). */
  steer?: boolean;
  /** Checks that the run exercised what the scenario is about. */
  expect(stats: RunStats): void;
}

const translated = (stats: RunStats) => assert.ok(stats.verdicts.translate > stats.decisions / 10, `too few translations: ${describe(stats.verdicts)}`);

const SCENARIOS: Scenario[] = [
  { name: 'random', profile: { algorithms: ['random'], affinity: 0, routes: 0 }, expect: translated },
  { name: 'round-robin', profile: { algorithms: ['round-robin'], affinity: 0, routes: 0 }, expect: translated },
  { name: 'maglev', profile: { algorithms: ['maglev'], affinity: 0, routes: 0 }, expect: translated },
  { name: 'least-connections', profile: { algorithms: ['least-conn'], affinity: 0, routes: 0 }, leastConn: true, expect: translated },
  {
    name: 'weighted (HTTPRoute backendRefs)',
    profile: { routes: 0.8, affinity: 0 },
    expect: (stats) => {
      translated(stats);
      assert.ok((stats.reasons['invalid-backend'] ?? 0) > 0, `no invalid-backend refusals: ${describe(stats.reasons)}`);
    },
  },
  { name: 'session affinity with time passing', profile: { affinity: 1, routes: 0.2 }, leastConn: true, expect: translated },
  {
    name: 'terminating fallback',
    profile: { conditions: [0.15, 0.6, 0.25], maxEndpoints: 4 },
    expect: translated,
  },
  {
    name: 'no usable backend',
    profile: { empty: 0.4, conditions: [0.2, 0.1, 0.7], maxEndpoints: 3, local: 0.3 },
    expect: (stats) => {
      assert.ok((stats.reasons['no-endpoints'] ?? 0) > 0, `no no-endpoints refusals: ${describe(stats.reasons)}`);
      assert.ok((stats.reasons['no-local-endpoints'] ?? 0) > 0, `no no-local-endpoints refusals: ${describe(stats.reasons)}`);
    },
  },
  { name: 'Local and zone preference', profile: { local: 0.5, preferClose: 0.6 }, leastConn: true, expect: translated },
  { name: 'everything mixed', profile: {}, leastConn: true, expect: translated },
  {
    name: 'routed frontends steered to the node proxy (one-backend pools)',
    profile: { routes: 0.8 },
    steer: true,
    expect: (stats) => {
      translated(stats);
      assert.ok(stats.steered > 0, 'no decision went to the node proxy');
    },
  },
];

const FIXTURE_SKIP = new Set(['bad', 'tests', 'policies', 'compiler']);

async function fixtureModels(): Promise<Array<{ name: string; model: Model; node?: string }>> {
  const dir = path.join(ROOT, 'fixtures');
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    if (FIXTURE_SKIP.has(name) || !existsSync(path.join(dir, name)) || name.includes('.')) continue;
    const model = await loadManifests([path.join(dir, name)]);
    if (model.services.size === 0) continue;
    const nodes = [...model.nodes.keys()];
    out.push({ name, model, node: nodes[0] });
  }
  return out;
}

function check(stats: RunStats, label: string): void {
  assert.ok(stats.decisions >= DECISIONS, `${label}: only ${stats.decisions} decisions`);
  assert.is(stats.differences, 0, `${label}: ${stats.differences} differences; first: ${describe(stats.examples)}`);
}

function report(label: string, stats: RunStats): void {
  console.log(
    `  ${label}: ${stats.decisions} decisions, ${stats.differences} differences ` +
      `(translate ${stats.verdicts.translate}, refuse ${stats.verdicts.refuse}, pass ${stats.verdicts.pass}; ` +
      `refusals ${describe(stats.reasons)}; ${stats.distinctChoices} distinct service/backend choices` +
      `${stats.steered > 0 ? `; ${stats.steered} to the node proxy` : ''})`,
  );
}

/** Scenarios through one compiled policy; `label` prefixes test names. */
function differentialSuite(label: string, policyFile: string | undefined, scenarios: Scenario[], withFixtures: boolean): void {
  kernelSuite(`kernel differential: ${label}`, kernelSkipReason(), (s) => {
    let dir = '';
    let built: CompileResult;
    let kernel: KernelDecider;
    let wasm: WasmDecider;

    // uvu does not report a failing before hook: keep its error and fail every test with it.
    let setupError: Error | undefined;
    s.before(async () => {
      try {
        dir = mkdtempSync(path.join(tmpdir(), 'meshc-diff-'));
        built = await compilePolicy({ outDir: dir, policyFile });
        kernel = new KernelDecider(built.object);
        wasm = await WasmDecider.create(built.wasm!);
      } catch (err) {
        setupError = err as Error;
      }
    });
    s.before.each(() => {
      if (setupError) throw new Error(`setup failed: ${setupError.message}\n${(setupError as { detail?: string }).detail ?? ''}`);
    });

    s.after(() => {
      kernel?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    scenarios.forEach((scenario, index) => {
      s(`${scenario.name}: ${DECISIONS} decisions, Wasm and kernel agree`, () => {
        const rng = new Rng(0x5eed0000 + index * 7919);
        const total = emptyStats();
        const perModel = Math.ceil(DECISIONS / MODELS);
        for (let m = 0; m < MODELS; m++) {
          const { model, node } = randomModel(rng, { ...BASE_PROFILE, ...scenario.profile });
          const stats = runDifferential(model, node, kernel, wasm, rng, {
            decisions: perModel,
            connsEvery: scenario.leastConn ? 4096 : undefined,
            steer: scenario.steer,
          });
          mergeStats(total, stats);
        }
        report(scenario.name, total);
        check(total, scenario.name);
        scenario.expect(total);
      });
    });

    if (withFixtures) {
      s(`fixtures/*: ${DECISIONS} decisions, Wasm and kernel agree`, async () => {
        const fixtures = await fixtureModels();
        assert.ok(fixtures.length >= 3, `expected fixture scenarios, found ${fixtures.map((f) => f.name)}`);
        const rng = new Rng(0xf1c5);
        const total = emptyStats();
        const perFixture = Math.ceil(DECISIONS / fixtures.length);
        for (const fixture of fixtures) {
          const stats = runDifferential(fixture.model, fixture.node, kernel, wasm, rng, { decisions: perFixture, connsEvery: 8192 });
          if (stats.differences > 0) console.log(`  fixtures/${fixture.name}: ${stats.differences} differences`);
          mergeStats(total, stats);
        }
        report(`fixtures (${fixtures.map((f) => f.name).join(', ')})`, total);
        check(total, 'fixtures');
        translated(total);
      });
    }
  });
}

differentialSuite('assembly/ policy', undefined, SCENARIOS, true);

// The example user policies (fixtures/policies/*.ts): compiled with --policy, same comparison.
const policiesDir = path.join(ROOT, 'fixtures', 'policies');
const userPolicies = existsSync(policiesDir) ? readdirSync(policiesDir).filter((f) => f.endsWith('.ts')).sort() : [];
for (const file of userPolicies) {
  const chosen = new Set(['weighted (HTTPRoute backendRefs)', 'Local and zone preference', 'everything mixed']);
  differentialSuite(`user policy fixtures/policies/${file}`, path.join(policiesDir, file), SCENARIOS.filter((x) => chosen.has(x.name)), true);
}
