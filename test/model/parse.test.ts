import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseManifests } from '../../src/model/parse.ts';

const parse = suite('parseManifests');

const threeDocs = `# leading comment
apiVersion: v1
kind: Service
metadata:
  name: a
---

apiVersion: v1
kind: Service
metadata:
  name: b
spec:
  ports:
  - port: 80
---
---
kind: Pod
`;

parse('one ManifestDoc per non-empty document, with its index and first content line', () => {
  const docs = parseManifests(threeDocs, 'x.yaml');
  assert.equal(
    docs.map((d) => [d.file, d.doc, d.line]),
    [
      ['x.yaml', 0, 2],
      ['x.yaml', 1, 8],
      ['x.yaml', 3, 17],
    ],
  );
  assert.equal(docs[1]!.object, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b' }, spec: { ports: [{ port: 80 }] } });
});

parse('locate gives the line of a field, undefined for a missing one', () => {
  const [, doc] = parseManifests(threeDocs, 'x.yaml');
  assert.is(doc!.locate!(['spec', 'ports', 0, 'port']), 14);
  assert.is(doc!.locate!(['metadata', 'name']), 11);
  assert.is(doc!.locate!(['spec', 'nothing']), undefined);
});

parse('a syntax error becomes a document with error and the line of the problem; others still parse', () => {
  const text = 'kind: Service\n---\nkind: Pod\nspec: {a: [1, 2}\n---\nkind: Node\n';
  const docs = parseManifests(text, 'bad.yaml');
  assert.is(docs.length, 3);
  assert.is(docs[0]!.object !== undefined, true);
  assert.is(docs[1]!.object, undefined);
  assert.match(docs[1]!.error!, /^YAML syntax error: /);
  assert.is(docs[1]!.line, 4);
  assert.equal(docs[2]!.object, { kind: 'Node' });
});

parse('duplicate keys make the document unreadable, located at the second key', () => {
  const [doc] = parseManifests('kind: Service\nkind: Pod\n', 'dup.yaml');
  assert.match(doc!.error!, /duplicate key "kind"/);
  assert.is(doc!.line, 2);
});

parse('JSON parses too', () => {
  const [doc] = parseManifests('{"kind": "Service", "metadata": {"name": "j"}}', 'x.json');
  assert.equal(doc!.object, { kind: 'Service', metadata: { name: 'j' } });
  assert.is(doc!.line, 1);
});

parse('an empty file gives no documents', () => {
  assert.equal(parseManifests('', 'empty.yaml'), []);
  assert.equal(parseManifests('# only a comment\n', 'empty.yaml'), []);
});

parse('a key that is a mapping, a list or binary is one located error of its document (found by the fuzzer), with no process warning', () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    const docs = parseManifests('a: 1\n---\nkind: Service\n? {kind: Node}\n: x\n---\n[1]: 2\n---\n!!binary aGk=: 3\n', 'k.yaml');
    assert.equal(docs.map((d) => [d.doc, d.line, d.error]), [
      [0, 1, undefined],
      [1, 4, 'YAML error: a mapping key is a mapping, a list or binary data; keys must be strings'],
      [2, 7, 'YAML error: a mapping key is a mapping, a list or binary data; keys must be strings'],
      [3, 9, 'YAML error: a mapping key is a mapping, a list or binary data; keys must be strings'],
    ]);
  } finally {
    process.off('warning', onWarning);
  }
  assert.equal(warnings, []);
});

parse.run();
