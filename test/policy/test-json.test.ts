// meshc test --json carries the manifests' diagnostics as objects (issue 12 item 6).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { callMeshc } from '../helpers/meshc.ts';

const test = suite('meshc test --json');

test('diagnostics of inline manifests are objects with every key', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshc-test-json-'));
  try {
    const file = path.join(dir, 'a.tests.yaml');
    writeFileSync(file, [
      'manifests:',
      '  inline: |',
      '    apiVersion: v1',
      '    kind: Service',
      '    metadata: {name: api}',
      '    spec: {ports: [{name: a, port: 80}, {name: b, port: 70000}]}',
      'tests:',
      '- name: refused',
      '  request: {to: "api:80"}',
      '  expect: {refused: true}',
      '',
    ].join('\n'));
    const r = await callMeshc('test', file, '--json');
    const out = JSON.parse(r.stdout);
    assert.equal(out.diagnostics.map((d: Record<string, unknown>) => Object.keys(d).sort()), [['document', 'field', 'file', 'kind', 'line', 'message', 'name', 'namespace', 'severity']]);
    assert.equal(
      [out.diagnostics[0].kind, out.diagnostics[0].namespace, out.diagnostics[0].name, out.diagnostics[0].field, out.diagnostics[0].severity, out.diagnostics[0].document],
      ['Service', 'default', 'api', 'spec.ports[1].port', 'error', 1],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
