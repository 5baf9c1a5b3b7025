// One run of a test file: its problems, the errors of the manifests under test, and a verdict per
// case. The page and `meshc test` both build a TestRun with runTestFile, so they agree on it.

import type { Diagnostic, Model } from '../model/types.ts';
import type { ManifestDoc } from '../model/manifest-doc.ts';
import { parseManifests } from '../model/parse.ts';
import type { PolicyInstance } from '../wasm/instance.ts';
import type { ManifestSource, ParsedTestFile, TestFileProblem } from './format.ts';
import { runPolicyTests, summarize, type TestVerdict, type VerdictSummary } from './evaluate.ts';

export interface TestRun {
  problems: TestFileProblem[];
  manifestErrors: Diagnostic[];
  verdicts: TestVerdict[];
  summary: VerdictSummary;
  /** True when the file is valid, the manifests load without errors and every case passes. */
  ok: boolean;
}

/** Runs the cases of `parsed` against `model` (built from the manifests the file refers to). */
export function runTestFile(parsed: ParsedTestFile, model: Model | undefined, instance: PolicyInstance): TestRun {
  const manifestErrors = model?.diagnostics.filter((d) => d.severity === 'error') ?? [];
  const verdicts = parsed.suite && model ? runPolicyTests(model, instance, parsed.suite.tests) : [];
  const summary = summarize(verdicts);
  const ok = parsed.problems.length === 0 && manifestErrors.length === 0 && summary.total > 0 && summary.passed === summary.total;
  return { problems: parsed.problems, manifestErrors, verdicts, summary, ok };
}

/** One line such as `PASS: 4/5, FAIL: 1/5, 2 error(s) in the manifests`. */
export function summaryLine(run: TestRun): string {
  const s = run.summary;
  const parts = [`PASS: ${s.passed}/${s.total}`];
  if (s.failed > 0) parts.push(`FAIL: ${s.failed}/${s.total}`);
  if (s.errors > 0) parts.push(`ERROR: ${s.errors}/${s.total}`);
  if (run.problems.length > 0) parts.push(`${run.problems.length} problem(s) in the test file`);
  if (run.manifestErrors.length > 0) parts.push(`${run.manifestErrors.length} error(s) in the manifests`);
  if (s.total === 0 && run.problems.length === 0) parts.push('no test cases ran');
  return parts.join(', ');
}

/**
 * The documents of inline manifests, with lines counted in the test file when the text is a block
 * literal (so a diagnostic points at the line of the test file).
 */
export function inlineManifestDocs(source: Extract<ManifestSource, { inline: string }>, file: string): ManifestDoc[] {
  const offset = source.firstLine !== undefined ? source.firstLine - 1 : 0;
  return parseManifests(source.inline, file).map((doc) => {
    if (offset === 0) return doc;
    const shifted: ManifestDoc = { ...doc };
    if (doc.line !== undefined) shifted.line = doc.line + offset;
    const locate = doc.locate;
    if (locate) {
      shifted.locate = (path) => {
        const line = locate(path);
        return line === undefined ? undefined : line + offset;
      };
    }
    return shifted;
  });
}
