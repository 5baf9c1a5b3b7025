// What the fuzzer runs on one input: the manifest loader and the model (parse, build), the table
// compiler, and the policy test reader; and the property each must hold.
import { parseManifests } from '../../src/model/parse.ts';
import { buildModel } from '../../src/model/build.ts';
import { compileTables } from '../../src/tables/compile.ts';
import { parseTestFile } from '../../src/policy-tests/format.ts';

export interface Outcome {
  objects: number;
  diagnostics: number;
}

/** Throws only when meshc does: every input must end in objects and diagnostics. */
export function runManifests(text: string): Outcome {
  const model = buildModel(parseManifests(text, 'fuzz.yaml'));
  for (const d of model.diagnostics) {
    if (typeof d.message !== 'string' || d.message === '' || (d.severity !== 'error' && d.severity !== 'warning')) {
      throw new Error(`malformed diagnostic: ${JSON.stringify(d)}`);
    }
  }
  compileTables(model, {});
  const objects = model.services.size + model.pods.size + model.routes.length + model.nodes.size + model.namespaces.size;
  return { objects, diagnostics: model.diagnostics.length };
}

export function runTestFile(text: string): Outcome {
  const parsed = parseTestFile(text, 'fuzz.tests.yaml');
  return { objects: parsed.suite?.tests.length ?? 0, diagnostics: parsed.problems.length };
}
