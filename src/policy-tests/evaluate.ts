// Runs policy test cases through the simulator and judges each against its expectation. The one
// place verdicts are decided: `meshc test` and the playground both call runPolicyTests.

import type { Model } from '../model/types.ts';
import type { PolicyInstance } from '../wasm/instance.ts';
import { simulate, SimulateError, type SimulateResult } from '../sim/simulate.ts';
import type { Expectation, PolicyTestCase, RouteRef } from './format.ts';
import { checkDenied } from './netpol-expect.ts';

export type VerdictStatus = 'pass' | 'fail' | 'error';

export interface TestVerdict {
  name: string;
  line?: number;
  status: VerdictStatus;
  /** Why it failed or could not run; absent when it passed. */
  reason?: string;
  /** What happened, in one line: route and shares per Service. */
  actual?: string;
}

export interface VerdictSummary {
  total: number;
  passed: number;
  failed: number;
  errors: number;
}

export function runPolicyTests(model: Model, instance: PolicyInstance, tests: readonly PolicyTestCase[]): TestVerdict[] {
  return tests.map((test) => runPolicyTest(model, instance, test));
}

export function runPolicyTest(model: Model, instance: PolicyInstance, test: PolicyTestCase): TestVerdict {
  const verdict: TestVerdict = { name: test.name, status: 'pass' };
  if (test.line !== undefined) verdict.line = test.line;
  let result: SimulateResult;
  try {
    result = simulate(model, instance, {
      to: test.request.to,
      from: test.request.from,
      request: { method: test.request.method, path: test.request.path, headers: test.request.headers, query: test.request.query },
      connections: test.request.connections,
      seed: test.request.seed,
    });
  } catch (error) {
    if (!(error instanceof SimulateError)) throw error;
    return { ...verdict, status: 'error', reason: error.message };
  }
  verdict.actual = describeResult(result);
  const failures = checkExpectation(result, test.expect);
  if (failures.length > 0) {
    verdict.status = 'fail';
    verdict.reason = failures.join('; ');
  }
  return verdict;
}

export function summarize(verdicts: readonly TestVerdict[]): VerdictSummary {
  return {
    total: verdicts.length,
    passed: verdicts.filter((v) => v.status === 'pass').length,
    failed: verdicts.filter((v) => v.status === 'fail').length,
    errors: verdicts.filter((v) => v.status === 'error').length,
  };
}

/** Connections per backend Service, `namespace/name` → count, largest first. */
export function countsByService(result: SimulateResult): [string, number][] {
  const counts = new Map<string, number>();
  for (const b of result.backends) counts.set(b.service, (counts.get(b.service) ?? 0) + b.count);
  return [...counts].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

function percent(count: number, total: number): string {
  return `${((100 * count) / Math.max(total, 1)).toFixed(1)}%`;
}

function routeText(route: SimulateResult['route']): string {
  return route ? `${route.namespace}/${route.name}#${route.rule}` : 'none';
}

function refText(ref: RouteRef): string {
  return `${ref.namespace}/${ref.name}${ref.rule === undefined ? '' : `#${ref.rule}`}`;
}

export function describeResult(result: SimulateResult): string {
  const parts = countsByService(result).map(([service, n]) => `${service} ${percent(n, result.connections)}`);
  if (result.refused > 0) {
    const reasons = Object.entries(result.refusedReasons).map(([r, n]) => `${r} ${n}`).join(', ');
    parts.push(`refused ${percent(result.refused, result.connections)} (${reasons})`);
  }
  return `route ${routeText(result.route)}; ${result.connections} connections: ${parts.join(', ')}`;
}

/** Every way `result` departs from `expect`, each as a sentence; empty when it holds. */
export function checkExpectation(result: SimulateResult, expect: Expectation): string[] {
  const failures: string[] = [];
  const total = result.connections;
  const services = countsByService(result);
  if (expect.route !== undefined) {
    const got = result.route;
    if (expect.route === null) {
      if (got) failures.push(`expected no HTTPRoute to apply, but rule ${routeText(got)} decided`);
    } else if (!got) {
      failures.push(`expected HTTPRoute ${refText(expect.route)} to decide, but ${result.status === 404 ? 'no rule matched (404)' : 'no HTTPRoute applies'}`);
    } else if (got.namespace !== expect.route.namespace || got.name !== expect.route.name || (expect.route.rule !== undefined && got.rule !== expect.route.rule)) {
      failures.push(`expected HTTPRoute ${refText(expect.route)} to decide, got ${routeText(got)}`);
    }
  }
  if (expect.backend !== undefined) {
    const others = services.filter(([s]) => s !== expect.backend);
    if (others.length > 0 || result.refused > 0) {
      const got = services.map(([s, n]) => `${s} ${percent(n, total)} (${n} of ${total})`);
      if (result.refused > 0) got.push(`refused ${percent(result.refused, total)} (${result.refused} of ${total})`);
      failures.push(`expected every connection to reach ${expect.backend}, got ${got.join(', ')}`);
    }
  }
  if (expect.refused === true && result.refused < total) {
    const got = services.map(([s, n]) => `${s} ${n}`).join(', ');
    failures.push(`expected every connection to be refused, but ${total - result.refused} of ${total} connected (${got})`);
  }
  if (expect.refused === false && result.refused > 0) {
    const reasons = Object.entries(result.refusedReasons).map(([r, n]) => `${r} ${n}`).join(', ');
    failures.push(`expected no refusal, got ${result.refused} of ${total} refused (${reasons})`);
  }
  if (expect.reason !== undefined) {
    const wrong = Object.entries(result.refusedReasons).filter(([r, n]) => r !== expect.reason && n > 0);
    if (wrong.length > 0) failures.push(`expected refusals for reason ${expect.reason}, got ${wrong.map(([r, n]) => `${r} ${n}`).join(', ')}`);
  }
  if (expect.denied !== undefined) failures.push(...checkDenied(result, expect.denied));
  if (expect.distribution !== undefined) {
    const actual = new Map(services);
    const keys = new Set([...Object.keys(expect.distribution), ...actual.keys()]);
    const off: string[] = [];
    for (const key of [...keys].sort()) {
      const want = expect.distribution[key] ?? 0;
      const got = (actual.get(key) ?? 0) / Math.max(total, 1);
      if (Math.abs(got - want) > expect.tolerance + 1e-12) {
        off.push(`${key} ${(100 * got).toFixed(1)}% (expected ${(100 * want).toFixed(1)}%)`);
      }
    }
    if (off.length > 0) failures.push(`distribution off by more than ${(100 * expect.tolerance).toFixed(1)} points: ${off.join(', ')}`);
  }
  return failures;
}
