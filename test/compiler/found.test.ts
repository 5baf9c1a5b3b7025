// mc_decide_found: the generator emits decide() without its opening mc_services lookup (the
// hooks then look the key up first and pass a non-Service connect() at one lookup) only when
// decide opens with that lookup and a PASS that has no other effect.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatCompilerDiagnostic, generateC } from '../../src/compiler/index.ts';

const root = path.resolve(import.meta.dirname, '../..');

const HEADER = `import { Decision, ServiceKey } from "meshc/layouts";
import { VERDICT_PASS, VERDICT_REFUSE, REASON_NO_ENDPOINTS } from "meshc/constants";
import { mc_services, mc_rr } from "meshc/maps";
import { decideWith } from "meshc/policy";
`;

function generate(body: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshc-found-'));
  try {
    const file = path.join(dir, 'policy.ts');
    fs.writeFileSync(file, HEADER + body);
    const result = generateC({ entry: file, baseDir: root });
    assert.equal(result.diagnostics.map(formatCompilerDiagnostic), [], 'no diagnostics');
    return result.code;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const found = suite('generator: mc_decide_found');

found('the built-in shape: lookup, then a PASS that only writes out', () => {
  const code = generate(`export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8 {
  const svc = mc_services.lookup(key);
  if (svc == null) {
    out.verdict = VERDICT_PASS;
    return VERDICT_PASS;
  }
  return decideWith(svc, svc.groups, svc.group_count, svc.weight_total, client, rand, now, out);
}
`);
  assert.match(code, '#define MC_DECIDE_FOUND mc_decide_found');
  assert.match(code, /mc_decide_found\(struct service_value \*svc, struct service_key \*key, __u64 client, __u32 rand, __u64 now, struct decision \*out\)\n\{\n\treturn mc_decide_with\(/);
});

found('a map write before the lookup: not emitted', () => {
  const code = generate(`export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8 {
  const rr = mc_rr.lookup(0);
  if (rr != null) rr.value = rr.value + 1;
  const svc = mc_services.lookup(key);
  if (svc == null) return VERDICT_PASS;
  return decideWith(svc, svc.groups, svc.group_count, svc.weight_total, client, rand, now, out);
}
`);
  assert.not.match(code, 'MC_DECIDE_FOUND');
});

found('a key that is no service refused instead of passed: not emitted', () => {
  const code = generate(`export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8 {
  const svc = mc_services.lookup(key);
  if (svc == null) {
    out.verdict = VERDICT_REFUSE;
    out.reason = REASON_NO_ENDPOINTS;
    return VERDICT_REFUSE;
  }
  return decideWith(svc, svc.groups, svc.group_count, svc.weight_total, client, rand, now, out);
}
`);
  assert.not.match(code, 'MC_DECIDE_FOUND');
});

found.run();
