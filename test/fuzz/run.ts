// The manifest fuzzer: mutates the fixtures (test/fuzz/mutate.ts) and feeds them to the loader,
// the model, the table compiler and the policy test reader (test/fuzz/target.ts) for a bounded
// time. Properties: nothing throws (every input ends in objects and diagnostics), each input takes
// time within a linear bound of its size, and inputs grown 16-fold take at most a small multiple of
// 16 times as long. `npm run fuzz -- --seconds N --seed S` runs it longer; a failing input is
// written to a file whose name is printed.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { mutateStructure, mutateText, Random } from './mutate.ts';
import { runManifests, runTestFile } from './target.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Per-input bound: a fixed allowance (GC, first runs) plus a cost per kilobyte. */
const BASE_MS = 400;
const MS_PER_KB = 40;
/**
 * Growth check: an input repeated SMALL and LARGE times (both well past warm-up sizes); the large
 * one may take at most SLACK times LARGE / SMALL as long as the small one.
 */
const SMALL = 4;
const LARGE = 64;
const SLACK = 4;

export interface FuzzOptions {
  seconds: number;
  seed: number;
  log?: (line: string) => void;
}

export interface FuzzStats {
  inputs: number;
  growthChecks: number;
  bytes: number;
  diagnostics: number;
  /** The largest share of its time bound an input used (1 = at the bound). */
  worstBoundUse: number;
  worstGrowth: number;
}

interface Seed {
  file: string;
  text: string;
  documents: unknown[];
  kind: 'manifests' | 'tests';
}

function fixtureFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'compiler' || name === 'policies' ? [] : fixtureFiles(full);
    return /\.(ya?ml|json)$/.test(name) ? [full] : [];
  });
}

export function loadSeeds(): Seed[] {
  return fixtureFiles(path.join(ROOT, 'fixtures')).sort().map((file) => {
    const text = readFileSync(file, 'utf8');
    const documents = parseAllDocuments(text).flatMap((d) => (Array.isArray(d) ? [] : [d.toJS({ maxAliasCount: 100 })]));
    return { file: path.relative(ROOT, file), text, documents, kind: file.endsWith('.tests.yaml') ? 'tests' : 'manifests' };
  });
}

class FuzzFailure extends Error {}

/**
 * Milliseconds of CPU this process spent in `run`: unlike the wall clock, it does not count the
 * time other processes on a shared machine had the CPU.
 */
function timed(run: () => unknown): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Best of three, so one GC pause does not decide a growth check. */
function bestOf3(run: () => unknown): number {
  return Math.min(timed(run), timed(run), timed(run));
}

export function fuzz(options: FuzzOptions): FuzzStats {
  const seeds = loadSeeds();
  const random = new Random(options.seed);
  const stats: FuzzStats = { inputs: 0, growthChecks: 0, bytes: 0, diagnostics: 0, worstBoundUse: 0, worstGrowth: 0 };
  const deadline = Date.now() + options.seconds * 1000;
  // A process warning (the yaml package's, say) would reach a user's terminal: it fails the input
  // too. emitWarning is caught as it is called, since the 'warning' event comes only on a later tick.
  const warnings: string[] = [];
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error) => {
    warnings.push(typeof warning === 'string' ? warning : warning.message);
  }) as typeof process.emitWarning;
  try {
    return fuzzLoop(seeds, random, stats, deadline, options, warnings);
  } finally {
    process.emitWarning = emitWarning;
  }
}

function fuzzLoop(seeds: Seed[], random: Random, stats: FuzzStats, deadline: number, options: FuzzOptions, warnings: string[]): FuzzStats {
  const fail = (input: string, why: string): never => {
    const file = path.join(tmpdir(), `meshc-fuzz-${options.seed}-${stats.inputs}.yaml`);
    writeFileSync(file, input);
    throw new FuzzFailure(`fuzz seed ${options.seed}, input ${stats.inputs}: ${why}; the input is in ${file}`);
  };
  while (Date.now() < deadline) {
    const seed = random.pick(seeds);
    const input = random.chance(2) || seed.documents.length === 0 ? mutateText(seed.text, random) : mutateStructure(seed.documents, random);
    const run = seed.kind === 'tests' ? () => runTestFile(input) : () => runManifests(input);
    let ms = 0;
    try {
      ms = timed(() => (stats.diagnostics += run().diagnostics));
    } catch (error) {
      fail(input, `threw ${(error as Error).stack ?? error}`);
    }
    if (warnings.length > 0) fail(input, `a process warning: ${warnings[0]}`);
    const kb = Math.max(input.length, 1) / 1024;
    stats.inputs++;
    stats.bytes += input.length;
    const bound = BASE_MS + MS_PER_KB * kb;
    stats.worstBoundUse = Math.max(stats.worstBoundUse, ms / bound);
    if (ms > bound) fail(input, `took ${ms.toFixed(0)} ms for ${input.length} bytes (bound ${BASE_MS} ms + ${MS_PER_KB} ms/KB)`);
    if (stats.inputs % 100 === 0 && seed.kind === 'manifests') {
      const copies = (n: number) => Array<string>(n).fill(input).join('\n---\n');
      const small = copies(SMALL);
      const large = copies(LARGE);
      const few = bestOf3(() => runManifests(small));
      const many = bestOf3(() => runManifests(large));
      const growth = many / Math.max(few, 1);
      stats.growthChecks++;
      stats.worstGrowth = Math.max(stats.worstGrowth, growth);
      const limit = (SLACK * LARGE) / SMALL;
      if (growth > limit) fail(large, `${LARGE} copies took ${many.toFixed(1)} ms, ${SMALL} copies ${few.toFixed(1)} ms: ${growth.toFixed(1)}x, more than ${limit}x`);
    }
    if (options.log && stats.inputs % 1000 === 0) options.log(`${stats.inputs} inputs, ${(stats.bytes / 1e6).toFixed(1)} MB, ${stats.diagnostics} diagnostics`);
  }
  return stats;
}

function argument(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} needs a whole number, got ${JSON.stringify(args[at + 1])}`);
  return value;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const seconds = argument(args, '--seconds', 600);
  const seed = argument(args, '--seed', Date.now() % 2 ** 31);
  console.log(`fuzzing the manifest loader for ${seconds} s, seed ${seed}`);
  try {
    const stats = fuzz({ seconds, seed, log: (line) => console.log(line) });
    console.log(`done: ${JSON.stringify(stats)}`);
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 1;
  }
}
