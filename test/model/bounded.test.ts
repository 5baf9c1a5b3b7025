// Hostile or broken YAML stays inside its document (issue 12 item 9), and small inputs never
// make large work (item 8): each case names its input, what must load, and what is reported.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseManifests } from '../../src/model/parse.ts';
import { buildModel } from '../../src/model/build.ts';
import { formatDiagnostic } from '../../src/model/diagnostics.ts';
import { MAX_SYNTHESIZED_PER_WORKLOAD, MAX_SYNTHESIZED_PODS } from '../../src/model/workload.ts';
import { parseTestFile } from '../../src/policy-tests/format.ts';

const service = (name: string) => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec: {ports: [{port: 80}]}
`;

const deployment = (name: string, replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template: {metadata: {labels: {app: ${name}}}, spec: {containers: [{name: c, image: i}]}}
`;

interface YamlCase {
  name: string;
  text: string;
  /** Services that must load. */
  services: string[];
  /** Each expected diagnostic: its line and a pattern of its formatted text. */
  diagnostics: [number | undefined, RegExp][];
}

const yamlCases: YamlCase[] = [
  {
    name: 'an unresolved merge alias spoils its document only, located at the alias',
    text: `${service('a').replace('metadata: {name: a}', 'metadata:\n  name: a\n  labels:\n    <<: *base')}---\n${service('b')}`,
    services: ['default/b'],
    diagnostics: [[6, /^m\.yaml:6 \(doc 1\): YAML error: alias \*base names no anchor defined before it$/]],
  },
  {
    name: 'a merge key with its anchor merges, as kubectl reads it',
    text: `apiVersion: v1
kind: Service
metadata:
  name: a
  labels: &common {team: shop}
  annotations:
    <<: *common
spec: {ports: [{port: 80}]}
`,
    services: ['default/a'],
    diagnostics: [],
  },
  {
    name: 'a duplicate key is located at its second occurrence',
    text: `${service('b')}---\napiVersion: v1\nkind: Service\nmetadata: {name: c}\nmetadata: {name: d}\n`,
    services: ['default/b'],
    diagnostics: [[9, /doc 2\): YAML error: duplicate key "metadata" in one mapping$/]],
  },
  {
    name: 'an alias bomb is refused, the next document loads',
    text: `a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
---
${service('b')}`,
    services: ['default/b'],
    diagnostics: [[1, /doc 1\): YAML error: .*alias/i]],
  },
  {
    name: 'a syntax error in the middle document leaves both neighbours',
    text: `${service('a')}---\nkind: [\n---\n${service('b')}`,
    services: ['default/a', 'default/b'],
    diagnostics: [[undefined, /doc 2\): YAML syntax error/]],
  },
];

const yaml = suite('YAML problems stay in their document');
for (const c of yamlCases) {
  yaml(c.name, () => {
    const model = buildModel(parseManifests(c.text, 'm.yaml'));
    assert.equal([...model.services.keys()].sort(), c.services);
    assert.is(model.diagnostics.length, c.diagnostics.length, model.diagnostics.map(formatDiagnostic).join('\n'));
    c.diagnostics.forEach(([line, pattern], i) => {
      const d = model.diagnostics[i]!;
      if (line !== undefined) assert.is(d.line, line, formatDiagnostic(d));
      assert.match(formatDiagnostic(d), pattern);
    });
  });
}

yaml('a test file with an unresolved alias is a located problem, not an exception', () => {
  const parsed = parseTestFile('tests:\n- name: x\n  request: *nowhere\n', 't.yaml');
  assert.is(parsed.suite, undefined);
  assert.equal(parsed.problems.map((p) => [p.line, p.message]), [[3, 'YAML error: alias *nowhere names no anchor defined before it']]);
});
yaml.run();

/**
 * Milliseconds of CPU this process spends in `run`, not wall time: on a shared machine the wall
 * clock also counts the time other processes had the CPU, and made the ratios below flaky.
 */
function timed(run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

const bounded = suite('small inputs make bounded work');

for (const replicas of [70000, 1000000]) {
  bounded(`replicas: ${replicas} in a 300-byte file: capped pods with one warning, in well under a second`, () => {
    let model: ReturnType<typeof buildModel> | undefined;
    const ms = timed(() => {
      model = buildModel(parseManifests(deployment('big', replicas), 'big.yaml'));
    });
    assert.ok(ms < 2000, `${ms} ms`);
    assert.is(model!.pods.size, MAX_SYNTHESIZED_PER_WORKLOAD);
    assert.equal(model!.diagnostics.map((d) => [d.severity, d.field]), [['warning', 'spec.replicas']]);
    assert.match(model!.diagnostics[0]!.message, new RegExp(`^${replicas} replicas: a simulation makes up at most 1000 pods per workload`));
  });
}

bounded('many big workloads share one budget of made-up pods, in name order', () => {
  const text = Array.from({ length: 12 }, (_, i) => deployment(`w${String(i).padStart(2, '0')}`, 1000)).join('---\n');
  const model = buildModel(parseManifests(text, 'many.yaml'));
  assert.is(model.pods.size, MAX_SYNTHESIZED_PODS);
  assert.equal(model.diagnostics.map((d) => d.name), ['w10', 'w11']);
  assert.match(model.diagnostics[0]!.message, /this one gets 0$/);
});

bounded('a pod CIDR too small: one error per workload, found without scanning the block per pod', () => {
  const model = buildModel(parseManifests(`${deployment('a', 900)}---\n${deployment('b', 900)}`, 'small.yaml'), { podCIDR: '10.0.0.0/22' });
  assert.is([...model.pods.values()].filter((p) => p.ip).length, 1021);
  assert.equal(model.diagnostics.map((d) => [d.severity, d.name, d.field]), [['error', 'b', 'spec.replicas']]);
});

bounded('labels and parsing scale linearly: 100,000 labels, 8x as many, take far less than 64x the time', () => {
  const text = (n: number) => {
    const lines = ['apiVersion: v1', 'kind: Service', 'metadata:', '  name: a', '  labels:'];
    for (let i = 0; i < n; i++) lines.push(`    k${i}: v`);
    return `${lines.join('\n')}\nspec: {ports: [{port: 80}]}\n`;
  };
  buildModel(parseManifests(text(2000), 'warm.yaml'));
  const small = timed(() => buildModel(parseManifests(text(12500), 's.yaml')));
  let model: ReturnType<typeof buildModel> | undefined;
  const large = timed(() => {
    model = buildModel(parseManifests(text(100000), 'l.yaml'));
  });
  assert.is(model!.services.get('default/a')!.meta.labels['k99999'], 'v', 'the 100,000 labels are read');
  assert.ok(large < 20 * Math.max(small, 5), `12,500 labels ${small.toFixed(0)} ms, 100,000 labels ${large.toFixed(0)} ms`);
});
bounded.run();
