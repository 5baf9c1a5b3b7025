// Node shell around the pure core: reads manifest files and directories, then builds the model.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Model } from './types.ts';
import type { ManifestDoc } from './manifest-doc.ts';
import { buildModel, type BuildOptions } from './build.ts';
import { parseManifests } from './parse.ts';

export const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Reads the manifests at `paths` and builds the model. */
export async function loadManifests(paths: readonly string[], options?: BuildOptions): Promise<Model> {
  return buildModel(await readManifestDocs(paths), options);
}

/**
 * The documents of every file in `paths`. A directory contributes its *.yaml, *.yml and *.json
 * files, recursively, in code-point order of their paths (entries starting with "." are skipped);
 * a file named directly is read whatever its extension. A path that cannot be read becomes a
 * document with an error.
 */
export async function readManifestDocs(paths: readonly string[]): Promise<ManifestDoc[]> {
  const docs: ManifestDoc[] = [];
  for (const path of paths) {
    for (const file of await manifestFiles(path)) docs.push(...(await readDocs(file)));
  }
  return docs;
}

async function manifestFiles(path: string): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return [path]; // readDocs reports it
  }
  if (!info.isDirectory()) return [path];
  const entries = (await readdir(path, { withFileTypes: true }))
    .filter((entry) => !entry.name.startsWith('.'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) files.push(...(await manifestFiles(child)));
    else if (MANIFEST_FILE.test(entry.name)) files.push(child);
  }
  return files;
}

async function readDocs(file: string): Promise<ManifestDoc[]> {
  try {
    return parseManifests(await readFile(file, 'utf8'), file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return [{ file, doc: -1, error: `cannot read: ${reason}` }];
  }
}
