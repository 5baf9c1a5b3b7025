import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadManifests, readManifestDocs } from '../../src/model/load-files.ts';

const files = suite('loadManifests: files and directories');

const service = (name: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: 80}]}\n`;

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'meshc-model-'));
  mkdirSync(join(root, 'b-dir'));
  mkdirSync(join(root, 'a-dir', 'deep'), { recursive: true });
  mkdirSync(join(root, '.hidden'));
  writeFileSync(join(root, 'z.yaml'), service('z'));
  writeFileSync(join(root, 'b-dir', 'one.yml'), service('b-one'));
  writeFileSync(join(root, 'a-dir', 'deep', 'x.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a-deep' }, spec: { ports: [{ port: 80 }] } }));
  writeFileSync(join(root, 'a-dir', 'two.YAML'), service('a-two'));
  writeFileSync(join(root, 'notes.txt'), 'not a manifest');
  writeFileSync(join(root, '.hidden', 'h.yaml'), service('hidden'));
  writeFileSync(join(root, 'plain'), service('plain'));
  return root;
}

files('a directory: *.yaml, *.yml, *.json recursively, in sorted order; other files and dot entries skipped', async () => {
  const root = tree();
  try {
    const docs = await readManifestDocs([root]);
    assert.equal(docs.map((d) => d.file.slice(root.length + 1)), ['a-dir/deep/x.json', 'a-dir/two.YAML', 'b-dir/one.yml', 'z.yaml']);
    const model = await loadManifests([root]);
    assert.equal([...model.services.keys()].sort(), ['default/a-deep', 'default/a-two', 'default/b-one', 'default/z']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

files('a file named directly is read whatever its extension; paths are read in the order given', async () => {
  const root = tree();
  try {
    const docs = await readManifestDocs([join(root, 'z.yaml'), join(root, 'plain')]);
    assert.equal(docs.map((d) => (d.object as { metadata: { name: string } }).metadata.name), ['z', 'plain']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

files('a missing path is an error diagnostic for that path (doc -1); the rest loads', async () => {
  const root = tree();
  try {
    const model = await loadManifests([join(root, 'missing.yaml'), join(root, 'z.yaml')], { synthesize: false });
    assert.equal(model.diagnostics.map((d) => [d.severity, d.file, d.doc, d.message]), [['error', join(root, 'missing.yaml'), -1, 'cannot read: ENOENT']]);
    assert.ok(model.services.has('default/z'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

files('the same object in two files: the file read later wins, and the earlier copy names it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'meshc-model-'));
  try {
    const port = (n: number) => `apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: ${n}}]}\n`;
    writeFileSync(join(root, 'first.yaml'), port(80));
    writeFileSync(join(root, 'second.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n${port(8080)}`);
    for (const [order, winner] of [[['first.yaml', 'second.yaml'], 8080], [['second.yaml', 'first.yaml'], 80]] as const) {
      const model = await loadManifests(order.map((f) => join(root, f)), { synthesize: false });
      assert.is(model.services.get('default/web')!.ports[0]!.port, winner, order.join(' then '));
      const later = order[1] === 'second.yaml' ? 'second.yaml:5 (doc 2)' : 'first.yaml:1 (doc 1)';
      assert.equal(model.diagnostics.map((d) => [d.severity, d.file, d.kind, d.name]), [['warning', join(root, order[0]), 'Service', 'web']]);
      assert.match(model.diagnostics[0]!.message, new RegExp(`^Service is defined again at ${join(root, later).replace(/[.()]/g, '\\$&')}: that later one is used`));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

files('options reach the builder', async () => {
  const root = tree();
  try {
    const model = await loadManifests([join(root, 'z.yaml')], { serviceCIDR: '172.30.0.0/16' });
    assert.match(model.services.get('default/z')!.clusterIPs[0]!, /^172\.30\./);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

files.run();
