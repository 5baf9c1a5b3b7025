// The agent's view of a manifests directory: the model, built without made-up pods (endpoints
// come from EndpointSlices or Pods with status.podIP), keeping each file's last good version.
// A file that turns bad (a YAML error, an invalid object) is reported and its previous documents
// stay in force, so one bad edit never removes live Services from the kernel.
import { watch } from 'node:fs';
import { buildModel } from '../model/build.ts';
import { readManifestDocs } from '../model/load-files.ts';
import type { ManifestDoc } from '../model/manifest-doc.ts';
import type { Diagnostic, Model } from '../model/types.ts';

export interface SourceSnapshot {
  model: Model;
  /** Problems in the current files, including those whose last good version is used instead. */
  diagnostics: Diagnostic[];
  /** Files whose last good version is in force. */
  heldBack: string[];
}

export class ManifestSource {
  private readonly lastGood = new Map<string, ManifestDoc[]>();

  constructor(private readonly paths: string[]) {}

  async read(): Promise<SourceSnapshot> {
    const docs = await readManifestDocs(this.paths);
    const byFile = new Map<string, ManifestDoc[]>();
    for (const doc of docs) byFile.set(doc.file, [...(byFile.get(doc.file) ?? []), doc]);
    const first = buildModel(docs, { synthesize: false });
    const badFiles = new Set(first.diagnostics.filter((d) => d.severity === 'error').map((d) => d.file));
    const heldBack: string[] = [];
    const chosen: ManifestDoc[] = [];
    for (const [file, fileDocs] of byFile) {
      if (!badFiles.has(file)) {
        this.lastGood.set(file, fileDocs);
        chosen.push(...fileDocs);
      } else if (this.lastGood.has(file)) {
        heldBack.push(file);
        chosen.push(...this.lastGood.get(file)!);
      } else {
        chosen.push(...fileDocs); // never good yet: its valid objects load, the rest is reported
      }
    }
    // A file that was deleted takes its objects with it.
    for (const file of [...this.lastGood.keys()]) if (!byFile.has(file)) this.lastGood.delete(file);
    const model = heldBack.length === 0 ? first : buildModel(chosen, { synthesize: false });
    return { model, diagnostics: first.diagnostics, heldBack };
  }
}

/** Calls `onChange` after files under `paths` change, once per burst (`quietMs` of calm). */
export function watchPaths(paths: string[], onChange: () => void, quietMs = 50): () => void {
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, quietMs);
  };
  const watchers = paths.map((path) => watch(path, { recursive: true }, fire));
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
