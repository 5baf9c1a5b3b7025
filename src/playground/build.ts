// Node only: builds the static playground site into dist/playground with esbuild. The page bundle
// (main.js) embeds the fixtures as data; policy.wasm is copied beside it; the generated-C view's
// code is a separate chunk loaded when that tab opens, and its C text is generated here, at build
// time ("prebuilt"), because the page never changes the policy source.
// Run: npm run build:playground (tsx src/playground/build.ts [--outdir DIR] [--no-minify]).

import { build, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { extractManifests } from '../policy-tests/embed.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_OUTDIR = join(ROOT, 'dist/playground');
const HERE = join(ROOT, 'src/playground');
const FIXTURES = join(ROOT, 'fixtures');
const POLICY_WASM = join(ROOT, 'build/policy.wasm');
export const SEED_SCENARIO = 'product-api';
export const SAMPLE_TESTS = join(FIXTURES, 'tests/product-api.tests.yaml');
/** Fixture directories that are not manifest scenarios. */
const NOT_SCENARIOS = new Set(['tests', 'compiler']);
const MANIFEST_FILE = /\.(ya?ml|json)$/i;

export interface BuildResult {
  outdir: string;
  /** Every file written, relative to outdir, with its size in bytes. */
  files: { path: string; bytes: number }[];
  /** Where the generated-C view's text came from. */
  generatedC: 'generateC' | 'unavailable';
}

export interface BuildOptions {
  outdir?: string;
  minify?: boolean;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : MANIFEST_FILE.test(e.name) ? [join(dir, e.name)] : []));
}

/**
 * A scenario directory as one multi-document YAML text, files in the order `meshc simulate DIR`
 * reads them. Each file's text is kept as written, after a `---` separator.
 */
export function scenarioText(dir: string): string {
  return filesUnder(dir)
    .map((file) => readFileSync(file, 'utf8').replace(/\s+$/, ''))
    .join('\n---\n')
    .concat('\n');
}

/** `| \`name/\` | text |` rows of fixtures/README.md. */
function scenarioNotes(): Map<string, string> {
  const notes = new Map<string, string>();
  const readme = join(FIXTURES, 'README.md');
  if (!existsSync(readme)) return notes;
  for (const line of readFileSync(readme, 'utf8').split('\n')) {
    const match = /^\|\s*`([^`/]+)\/?`\s*\|\s*(.+?)\s*\|\s*$/.exec(line);
    if (match) notes.set(match[1]!, firstSentence(match[2]!.replace(/`/g, '')));
  }
  return notes;
}

function firstSentence(text: string): string {
  const end = text.search(/[.:](\s|$)/);
  return end < 0 ? text : `${text.slice(0, end)}.`;
}

export function scenarios(): { name: string; about: string; manifests: string }[] {
  const notes = scenarioNotes();
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !NOT_SCENARIOS.has(e.name) && filesUnder(join(FIXTURES, e.name)).length > 0)
    .map((e) => e.name)
    .sort((a, b) => (a === SEED_SCENARIO ? -1 : b === SEED_SCENARIO ? 1 : a < b ? -1 : 1))
    .map((name) => ({ name, about: notes.get(name) ?? '', manifests: scenarioText(join(FIXTURES, name)) }));
}

/** The tests the page opens with: the sample file without its `manifests` (the editor has them). */
export function sampleTests(): string {
  return extractManifests(readFileSync(SAMPLE_TESTS, 'utf8')).tests;
}

const fixturesPlugin: Plugin = {
  name: 'meshc-fixtures',
  setup(b) {
    b.onResolve({ filter: /^meshc:fixtures$/ }, () => ({ path: 'fixtures', namespace: 'meshc' }));
    b.onLoad({ filter: /.*/, namespace: 'meshc' }, () => ({
      loader: 'js',
      contents: [
        `export const scenarios = ${JSON.stringify(scenarios())};`,
        `export const seedScenario = ${JSON.stringify(SEED_SCENARIO)};`,
        `export const sampleTests = ${JSON.stringify(sampleTests())};`,
      ].join('\n'),
      watchFiles: [...filesUnder(FIXTURES), join(FIXTURES, 'README.md')],
    }));
  },
};

function ensurePolicyWasm(): void {
  if (existsSync(POLICY_WASM)) return;
  execFileSync(join(ROOT, 'node_modules/.bin/asc'), ['assembly/index.ts', '--target', 'release'], { cwd: ROOT, stdio: 'inherit' });
}

/**
 * The BPF C that src/compiler's generateC emits for assembly/ (its default entry), or, when the
 * generator is absent or reports problems, a C comment saying why there is none.
 */
async function generatedC(): Promise<{ text: string; source: BuildResult['generatedC'] }> {
  const file = join(ROOT, 'src/compiler/index.ts');
  if (!existsSync(file)) {
    return { text: '/* The BPF C generator (src/compiler) was not present when this site was built. */\n', source: 'unavailable' };
  }
  const compiler = (await import(pathToFileURL(file).href)) as typeof import('../compiler/index.ts');
  try {
    const result = compiler.generateC({ baseDir: ROOT });
    if (result.diagnostics.length === 0 && result.code) return { text: result.code, source: 'generateC' };
    const problems = result.diagnostics.map((d) => compiler.formatCompilerDiagnostic(d)).join('\n');
    return { text: `/* generateC reported ${result.diagnostics.length} problem(s) when this site was built:\n${uncomment(problems)}\n*/\n`, source: 'unavailable' };
  } catch (error) {
    return { text: `/* generateC failed when this site was built:\n${uncomment(String((error as Error).stack ?? error))}\n*/\n`, source: 'unavailable' };
  }
}

function uncomment(text: string): string {
  return text.replace(/\*\//g, '* /');
}

function listFiles(dir: string, base = dir): { path: string; bytes: number }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name);
    return e.isDirectory() ? listFiles(full, base) : [{ path: relative(base, full).split('\\').join('/'), bytes: statSync(full).size }];
  });
}

export async function buildPlayground(options: BuildOptions = {}): Promise<BuildResult> {
  const outdir = options.outdir ?? DEFAULT_OUTDIR;
  ensurePolicyWasm();
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(outdir, 'generated'), { recursive: true });
  await build({
    entryPoints: [join(HERE, 'main.ts')],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    chunkNames: 'chunks/[name]-[hash]',
    legalComments: 'linked',
    plugins: [fixturesPlugin],
    logLevel: 'warning',
  });
  copyFileSync(join(HERE, 'index.html'), join(outdir, 'index.html'));
  copyFileSync(join(HERE, 'playground.css'), join(outdir, 'playground.css'));
  copyFileSync(POLICY_WASM, join(outdir, 'policy.wasm'));
  const c = await generatedC();
  writeFileSync(join(outdir, 'generated/policy.c'), c.text);
  writeFileSync(join(outdir, 'generated/about.json'), `${JSON.stringify({ source: c.source })}\n`);
  return { outdir, files: listFiles(outdir), generatedC: c.source };
}

async function cli(): Promise<void> {
  const { values } = parseArgs({ options: { outdir: { type: 'string' }, 'no-minify': { type: 'boolean' } } });
  const result = await buildPlayground({ outdir: values.outdir, minify: !values['no-minify'] });
  const total = result.files.reduce((sum, f) => sum + f.bytes, 0);
  for (const f of result.files) process.stdout.write(`${String(f.bytes).padStart(9)}  ${f.path}\n`);
  process.stdout.write(`${String(total).padStart(9)}  total in ${relative(process.cwd(), result.outdir) || '.'} (generated C: ${result.generatedC})\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  cli().catch((error: unknown) => {
    process.stderr.write(`build:playground: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
