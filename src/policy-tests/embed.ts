// Moving manifests in and out of a test file: the playground exports its tests with the editor's
// manifests embedded (`manifests: {inline: ...}`), and imports such a file back into two editors.

import { isMap, isScalar, parseDocument, Scalar, YAMLMap } from 'yaml';

/**
 * `testsText` with `manifests` set to `{inline: manifestsText}` as the file's first key (comments
 * of `testsText` kept). Throws on a YAML syntax error in `testsText`.
 */
export function embedManifests(testsText: string, manifestsText: string): string {
  const document = parseDocument(testsText);
  if (document.errors.length > 0) throw new Error(`the tests are not valid YAML: ${document.errors[0]!.message.split('\n')[0]}`);
  const inline = new Scalar(manifestsText.endsWith('\n') ? manifestsText : `${manifestsText}\n`);
  inline.type = Scalar.BLOCK_LITERAL;
  const manifests = new YAMLMap();
  manifests.set('inline', inline);
  const root = isMap(document.contents) ? document.contents : new YAMLMap();
  const pair = document.createPair('manifests', manifests);
  // A comment above the old first key heads the file: keep it above the new first key.
  const first = root.items[0]?.key;
  if (isScalar(first) && first.commentBefore) {
    (pair.key as Scalar).commentBefore = first.commentBefore;
    first.commentBefore = undefined;
  }
  root.delete('manifests');
  root.items.unshift(pair);
  document.contents = root as typeof document.contents;
  return document.toString({ lineWidth: 0 });
}

/**
 * A test file split in two: the file without its `manifests` key, and the manifests when inline
 * (`referenced` tells that the file named them by path instead). Unchanged when not valid YAML.
 */
export function extractManifests(text: string): { tests: string; manifests?: string; referenced?: boolean } {
  const document = parseDocument(text);
  if (document.errors.length > 0 || !isMap(document.contents) || !document.contents.has('manifests')) return { tests: text };
  const source = document.contents.get('manifests');
  const inline = isMap(source) ? source.get('inline') : undefined;
  const pair = document.contents.items.find((item) => isScalar(item.key) && item.key.value === 'manifests');
  const comment = isScalar(pair?.key) ? pair.key.commentBefore : undefined;
  document.contents.delete('manifests');
  const next = document.contents.items[0]?.key;
  if (comment && isScalar(next)) next.commentBefore = [comment, next.commentBefore].filter(Boolean).join('\n');
  const tests = document.toString({ lineWidth: 0 }).replace(/^\n+/, '');
  return typeof inline === 'string' ? { tests, manifests: inline } : { tests, referenced: true };
}
