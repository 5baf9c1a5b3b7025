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
  assert.match(code, /mc_decide_found\(struct service_value \*svc, struct mc_inputs \*mc_in, struct service_key \*key, struct decision \*out\)\n\{\n\treturn mc_decide_with\(mc_in, /);
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

// Lazy inputs (src/compiler/inputs.ts): a parameter that every caller passes one of decide's
// inputs unchanged leaves the C signature and is read through mc_input_<name>(mc_in) where the
// function reads it; one that some caller passes a computed value stays a value.
const lazy = suite('generator: lazy inputs');

lazy('inputs read where they are read; a computed argument stays a value', () => {
  const code = generate(`function pick(client: u64, rand: u32, n: u32): u32 {
  if (n == 0) return u32(client);
  return rand % n;
}
function mixed(rand: u32): u32 {
  return rand + 1;
}
export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8 {
  const svc = mc_services.lookup(key);
  if (svc == null) {
    out.verdict = VERDICT_PASS;
    return VERDICT_PASS;
  }
  out.backend_id = pick(client, rand, svc.ready) + mixed(rand) + mixed(rand ^ 1);
  return VERDICT_PASS;
}
`);
  assert.match(code, '#define MC_INPUT_COUNT 3');
  assert.match(code, /static __always_inline __u32 mc_pick\(struct mc_inputs \*mc_in, __u32 n\)/);
  assert.match(code, 'return (__u32)mc_input_client(mc_in);');
  assert.match(code, 'return n ? mc_input_rand(mc_in) % n : 0;');
  // mixed() gets rand from one call and rand ^ 1 from another: a value parameter, evaluated at the call.
  assert.match(code, /static __always_inline __u32 mc_mixed\(__u32 rand\)/);
  assert.match(code, 'mc_mixed(mc_input_rand(mc_in) ^ 1)');
  // The entry with mc_in, and its value form for callers that have the inputs (the harness).
  assert.match(code, /mc_decide_in\(struct mc_inputs \*mc_in, struct service_key \*key, struct decision \*out\)/);
  assert.match(code, /mc_decide\(struct service_key \*key, __u64 client, __u32 rand, __u64 now, struct decision \*out\)\n\{\n\tstruct mc_inputs in = \{\};\n\tin.client = client;\n\tin.rand = rand;\n\tin.now = now;\n\tin.read = MC_INPUTS_ALL;\n\treturn mc_decide_in\(&in, key, out\);/);
  // now is never read: its accessor exists, no call of it.
  assert.not.match(code, 'mc_input_now(mc_in)');
});

lazy('an input the policy assigns stays a value', () => {
  const code = generate(`function use(rand: u32): u32 {
  rand = rand + 1;
  return rand;
}
export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8 {
  const svc = mc_services.lookup(key);
  if (svc == null) {
    out.verdict = VERDICT_PASS;
    return VERDICT_PASS;
  }
  out.backend_id = use(rand);
  return VERDICT_PASS;
}
`);
  assert.match(code, /static __always_inline __u32 mc_use\(__u32 rand\)/);
  assert.match(code, 'mc_use(mc_input_rand(mc_in))');
});

lazy('the entry is the entry module\'s decide, not the built-in decide it calls', () => {
  const code = generate(`import { decide as builtin } from "meshc/policy";
export function decide(key: ServiceKey, client: u64, rand: u32, now: u64, out: Decision): u8 {
  out.slot = 7;
  return builtin(key, client, rand ^ 1, now, out);
}
`);
  // The built-in decide opens with the lookup, this one does not: no MC_DECIDE_FOUND, which would
  // let the hooks skip this policy's own code.
  assert.not.match(code, 'MC_DECIDE_FOUND');
  assert.match(code, /mc_decide_in\(struct mc_inputs \*mc_in, struct service_key \*key, struct decision \*out\)\n\{\n\tout->slot = 7;/);
  assert.match(code, /mc_policy_decide\(struct mc_inputs \*mc_in, struct service_key \*key, __u32 rand, struct decision \*out\)/);
});

lazy.run();
