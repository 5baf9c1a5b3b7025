// `meshc test`: runs policy unit tests (docs/policy-tests.md), the same files the playground exports.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { readManifestDocs } from '../model/load-files.ts';
import { buildModel } from '../model/build.ts';
import { diagnosticJson, formatDiagnostic } from '../model/diagnostics.ts';
import type { Diagnostic } from '../model/types.ts';
import type { ManifestDoc } from '../model/manifest-doc.ts';
import { loadPolicyWasm } from '../wasm/load.ts';
import { formatProblem, parseTestFile, type ParsedTestFile, type TestFileProblem } from '../policy-tests/format.ts';
import { inlineManifestDocs, runTestFile, summaryLine, type TestRun } from '../policy-tests/run.ts';
import type { CommandIO } from './io.ts';
import { InputError, UsageError, parseCommand } from './usage.ts';

const HELP = `Usage: meshc test FILE... [options]

Runs policy unit tests: each case sends a request (or N connections) to a Service through the
simulator (the same WebAssembly policy the kernel runs as BPF) and checks where it goes. The
playground's "Policy tests" panel runs the same cases and exports files this command runs.

A test file (YAML; full format in docs/policy-tests.md):

  manifests: ../product-api        # paths relative to this file, or {inline: |  <YAML> }
  defaults:
    to: product-api:80             # NAME[.NAMESPACE]:PORT
  tests:
  - name: a canary user goes to v2
    request:
      headers: {X-Canary-User: "true"}
    expect:
      backend: product-api-v2      # or: refused, route, distribution (+ tolerance)

Options:
  --manifests PATH   test against these manifests instead of the file's own (repeatable)
  --run REGEX        only the cases whose name matches REGEX
  -v, --verbose      show what happened for passing cases too
  --quiet            of the manifests' diagnostics, print the errors only (no warnings)
  --json             print one JSON object per FILE on stdout, with the manifests' diagnostics
                     ({file, document, line, kind, namespace, name, field, message, severity})
  -h, --help         this help

Exit status: 0 when every case passes, 1 when a case fails, a file or its manifests have errors,
2 on bad usage.

Example:
  meshc test fixtures/tests/product-api.tests.yaml
`;

export const command = { summary: 'run policy unit tests against manifests', run };

interface FileReport {
  file: string;
  run: TestRun;
  diagnostics: Diagnostic[];
}

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommand('test', args, {
    manifests: { type: 'string', multiple: true },
    run: { type: 'string' },
    verbose: { type: 'boolean', short: 'v' },
    quiet: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('meshc test: give at least one test FILE');
  let filter: RegExp | undefined;
  if (values.run !== undefined) {
    try {
      filter = new RegExp(values.run);
    } catch (error) {
      throw new UsageError(`meshc test: --run: ${(error as Error).message}`);
    }
  }
  const missing = [...positionals, ...(values.manifests ?? [])].filter((p) => !existsSync(p));
  if (missing.length > 0) throw new InputError(`meshc test: no such file or directory: ${missing.join(', ')}`);
  const instance = await loadPolicyWasm();
  let ok = true;
  for (const file of positionals) {
    const report = await testFile(file, values.manifests, filter, instance);
    ok &&= report.run.ok;
    if (values.json) io.stdout.write(`${JSON.stringify({ file, ...report.run, diagnostics: report.diagnostics.map(diagnosticJson) })}\n`);
    else io.stdout.write(formatReport(report, values.verbose ?? false, values.quiet ?? false));
  }
  return ok ? 0 : 1;
}

async function testFile(
  file: string, override: string[] | undefined, filter: RegExp | undefined, instance: Awaited<ReturnType<typeof loadPolicyWasm>>,
): Promise<FileReport> {
  const parsed: ParsedTestFile = parseTestFile(readFileSync(file, 'utf8'), file);
  if (parsed.suite && filter) parsed.suite.tests = parsed.suite.tests.filter((t) => filter.test(t.name));
  const docs = await manifestDocs(file, parsed, override);
  const model = docs ? buildModel(docs) : undefined;
  const run = runTestFile(parsed, model, instance);
  return { file, run, diagnostics: model?.diagnostics ?? [] };
}

async function manifestDocs(file: string, parsed: ParsedTestFile, override: string[] | undefined): Promise<ManifestDoc[] | undefined> {
  if (override && override.length > 0) return readManifestDocs(override);
  const source = parsed.suite?.manifests;
  if (!source) {
    if (parsed.suite) parsed.problems.push(problem(file, undefined, 'no `manifests`: give a path, {inline: ...}, or --manifests PATH'));
    return undefined;
  }
  if ('inline' in source) return inlineManifestDocs(source, file);
  const base = dirname(file);
  const paths = source.paths.map((p) => resolve(base, p));
  const absent = source.paths.filter((_, i) => !existsSync(paths[i]!));
  if (absent.length > 0) {
    parsed.problems.push(problem(file, source.line, `manifests: no such file or directory (relative to ${base}): ${absent.join(', ')}`));
    return undefined;
  }
  return readManifestDocs(paths);
}

function problem(file: string, line: number | undefined, message: string): TestFileProblem {
  return line === undefined ? { file, message } : { file, line, message };
}

function formatReport({ file, run, diagnostics }: FileReport, verbose: boolean, quiet: boolean): string {
  const lines: string[] = [`${file}:`];
  for (const p of run.problems) lines.push(`  ERROR ${formatProblem(p)}`);
  for (const d of diagnostics) if (!quiet || d.severity === 'error') lines.push(`  ${formatDiagnostic(d)}`);
  for (const v of run.verdicts) {
    const where = v.line !== undefined ? ` (${file}:${v.line})` : '';
    lines.push(`  ${v.status.toUpperCase().padEnd(5)} ${v.name}${v.status === 'pass' ? '' : where}`);
    if (v.reason) lines.push(`        ${v.reason}`);
    if (v.actual && (verbose || v.status !== 'pass')) lines.push(`        got: ${v.actual}`);
  }
  lines.push('-'.repeat(40), summaryLine(run), '');
  return lines.join('\n');
}
