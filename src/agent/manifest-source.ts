// The agent's view of manifests on disk: the model, built without made-up pods (endpoints come
// from EndpointSlices or Pods with status.podIP), never losing routing to an ordinary file event.
//
// - A file that turns bad (a YAML error, an invalid object, unreadable) is reported and its last
//   good documents stay in force, so one bad edit never removes live Services from the kernel.
//   A file that has never been good in this process loads none of its objects; one that was bad
//   already at the first read makes the source not synced until it is good (it may hold what a
//   previous agent wrote into the pinned maps).
// - A manifests directory (or a directory below it) that is missing or unreadable keeps the last
//   good state of every file it held, and says so; once it is back, it is read again. One that
//   this process has never read (unreadable since the agent started) makes the source not synced:
//   the agent then removes nothing from the maps, which still hold what the last agent wrote.
// - Settle rule: a file that had objects and now parses to nothing (truncated before being filled
//   again) or is gone keeps its objects until it has stayed so for `settleMs` (default 2 s);
//   only then are they removed. Deleting a file therefore takes effect after that quiet period.
// - watch() does not trust inotify alone: it rescans every `rescanMs` and compares content
//   hashes, so renames, `sed -i`, symlink swaps (Kubernetes ConfigMap mounts), directories added
//   later and a re-created root are all seen, and nothing unchanged is re-applied. A watcher that
//   fails ('error') is closed and made again by the next rescan; it never stops the agent.
import { createHash } from 'node:crypto';
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { buildModel } from '../model/build.ts';
import { MANIFEST_FILE } from '../model/load-files.ts';
import type { ManifestDoc } from '../model/manifest-doc.ts';
import { parseManifests } from '../model/parse.ts';
import type { Diagnostic, Model } from '../model/types.ts';

export interface SourceSnapshot {
  model: Model;
  /** Problems in the current files and directories, including what is held back. */
  diagnostics: Diagnostic[];
  /** Files and directories whose last good version is in force instead of what is on disk. */
  heldBack: string[];
}

export interface ManifestSourceOptions {
  /** How long an emptied or vanished file keeps its objects (ms, default 2000). */
  settleMs?: number;
  /** How often watch() rescans everything (ms, default 1000). */
  rescanMs?: number;
  /** Calm after a file event before watch() looks (ms, default 50). */
  quietMs?: number;
  now?: () => number;
  /** Makes a directory's watcher (default fs.watch); tests inject failing ones. */
  watchDirectory?: (dir: string, onEvent: () => void) => FSWatcher;
}

/** One scan of the paths: each file's text (or why it could not be read), and dead directories. */
interface Scan {
  files: Map<string, { hash: string; text?: string; error?: string }>;
  /** Directories (a root or below) that could not be listed, with the reason. */
  unreadable: Map<string, string>;
  /**
   * Directories listed, with their identity (a watcher on a replaced directory is renewed): the
   * inode and the birth time, since a directory removed and made again often gets the same inode.
   */
  dirs: Map<string, string>;
}

export class ManifestSource {
  private readonly lastGood = new Map<string, ManifestDoc[]>();
  private readonly parsed = new Map<string, { hash: string; docs: ManifestDoc[] }>();
  private readonly emptySince = new Map<string, number>();
  private readonly settleMs: number;
  private readonly rescanMs: number;
  private readonly quietMs: number;
  private readonly now: () => number;
  private readonly watchDirectory: (dir: string, onEvent: () => void) => FSWatcher;
  /** Directories (and files) this process has listed (read) at least once. */
  private readonly everRead = new Set<string>();
  /** Whether the last read() could not read something it never read before. */
  private unseen = false;
  /** Files that had errors at the first read() and have not been good since. */
  private readonly badSinceStart = new Set<string>();
  private started = false;
  /** Fingerprint of the scan the last read() was built from. */
  private readFingerprint = '';
  /** When the earliest settling file is due (ms on `now`), if any. */
  private settleDue: number | undefined;
  private onSettleDue?: () => void;

  constructor(private readonly paths: string[], options: ManifestSourceOptions = {}) {
    this.settleMs = options.settleMs ?? 2000;
    this.rescanMs = options.rescanMs ?? 1000;
    this.quietMs = options.quietMs ?? 50;
    this.now = options.now ?? (() => performance.now());
    this.watchDirectory = options.watchDirectory ?? ((dir, onEvent) => fsWatch(dir, onEvent));
  }

  /**
   * False while a directory or file that this process has never read cannot be read: what it
   * holds is unknown, so the agent must not remove what is in the maps (AgentSource.synced).
   */
  synced(): boolean {
    return !this.unseen;
  }

  async read(): Promise<SourceSnapshot> {
    const scan = await scanPaths(this.paths);
    this.readFingerprint = fingerprint(scan);
    const now = this.now();
    const sourceDiagnostics: Diagnostic[] = [];
    const current = new Map<string, ManifestDoc[]>();
    for (const [file, entry] of scan.files) current.set(file, this.docsOf(file, entry));
    const first = buildModel([...current.values()].flat(), { synthesize: false });
    const badFiles = new Set(first.diagnostics.filter((d) => d.severity === 'error').map((d) => d.file));
    const heldBack: string[] = [];
    const chosen: ManifestDoc[] = [];
    let changed = false;
    this.settleDue = undefined;
    const settling = (file: string, what: string): boolean => {
      const since = this.emptySince.get(file) ?? now;
      this.emptySince.set(file, since);
      if (now - since >= this.settleMs) return false;
      const due = since + this.settleMs;
      this.settleDue = Math.min(this.settleDue ?? due, due);
      const held = objectCount(this.lastGood.get(file)!);
      sourceDiagnostics.push({ severity: 'warning', file, doc: -1, message: `${what} after holding ${held} objects: they stay in force until it has been so for ${this.settleMs} ms` });
      return true;
    };
    for (const [file, docs] of current) {
      const previous = this.lastGood.get(file);
      if (badFiles.has(file) && previous) {
        heldBack.push(file);
        chosen.push(...previous);
        changed = true;
      } else if (badFiles.has(file)) {
        // Never good in this process: none of it loads (half a file can be worse than none: a
        // Service without its EndpointSlice refuses every connect). Bad since the agent started,
        // it may hold what a previous agent wrote into the pinned maps: nothing is removed then.
        if (!this.started) this.badSinceStart.add(file);
        changed = true;
        const since = this.badSinceStart.has(file);
        sourceDiagnostics.push({
          severity: 'error',
          file,
          doc: -1,
          message: since
            ? 'has errors and was never good since the agent started: none of its objects are applied, and nothing is removed from the maps until it is fixed'
            : 'has errors and was never good: none of its objects are applied until it is fixed',
        });
      } else if (objectCount(docs) === 0 && previous && objectCount(previous) > 0 && settling(file, 'the file is empty')) {
        heldBack.push(file);
        chosen.push(...previous);
        changed = true;
      } else {
        this.emptySince.delete(file);
        this.lastGood.set(file, docs);
        this.badSinceStart.delete(file);
        chosen.push(...docs);
      }
    }
    this.started = true;
    for (const dir of scan.dirs.keys()) this.everRead.add(dir);
    for (const [file, entry] of scan.files) if (entry.error === undefined) this.everRead.add(file);
    this.unseen = false;
    for (const [dir, reason] of scan.unreadable) {
      const kept = [...this.lastGood.keys()].filter((file) => !current.has(file) && within(file, dir));
      if (this.everRead.has(dir)) {
        sourceDiagnostics.push({ severity: 'error', file: dir, doc: -1, message: `cannot read the directory (${reason}): the last good state of its ${kept.length} files stays in force` });
      } else {
        this.unseen = true;
        sourceDiagnostics.push({ severity: 'error', file: dir, doc: -1, message: `cannot read the directory (${reason}) and it was never read since the agent started: nothing is removed from the maps until it can be read` });
      }
      if (kept.length > 0) heldBack.push(dir);
    }
    for (const [file, entry] of scan.files) {
      if (entry.error !== undefined && !this.everRead.has(file) && !this.lastGood.has(file)) this.unseen = true;
    }
    for (const file of this.badSinceStart) {
      if (current.has(file) && badFiles.has(file)) this.unseen = true;
      else if (!current.has(file)) this.badSinceStart.delete(file);
    }
    for (const [file, previous] of this.lastGood) {
      if (current.has(file)) continue;
      if ([...scan.unreadable.keys()].some((dir) => within(file, dir)) || (objectCount(previous) > 0 && settling(file, 'the file is gone'))) {
        chosen.push(...previous);
        changed = true;
      } else {
        this.lastGood.delete(file);
        this.emptySince.delete(file);
      }
    }
    for (const file of this.parsed.keys()) if (!scan.files.has(file)) this.parsed.delete(file);
    const model = changed ? buildModel(chosen, { synthesize: false }) : first;
    if (this.settleDue !== undefined) this.onSettleDue?.();
    return { model, diagnostics: [...sourceDiagnostics, ...first.diagnostics], heldBack };
  }

  /**
   * Calls `onChange` whenever what read() would return may differ from the last read(): files
   * changed (seen by a directory event or by the periodic rescan) or a settling file is due.
   * Returns a function that stops watching.
   */
  watch(onChange: () => void): () => void {
    const watchers = new Map<string, { identity: string; watcher: FSWatcher }>();
    let stopped = false;
    let scanning = false;
    let again = false;
    let quiet: NodeJS.Timeout | undefined;
    let settle: NodeJS.Timeout | undefined;
    const look = async (): Promise<void> => {
      if (scanning) {
        again = true;
        return;
      }
      scanning = true;
      try {
        const scan = await scanPaths(this.paths);
        if (stopped) return;
        renewWatchers(scan);
        if (fingerprint(scan) !== this.readFingerprint) onChange();
      } finally {
        scanning = false;
        if (again && !stopped) {
          again = false;
          void look();
        }
      }
    };
    const soon = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => void look(), this.quietMs);
    };
    const renewWatchers = (scan: Scan) => {
      for (const [dir, entry] of watchers) {
        if (scan.dirs.get(dir) !== entry.identity) {
          entry.watcher.close();
          watchers.delete(dir);
        }
      }
      for (const [dir, identity] of scan.dirs) {
        if (watchers.has(dir)) continue;
        try {
          const watcher = this.watchDirectory(dir, soon);
          // A directory that goes away or turns unreadable ends its watcher; the rescan carries on.
          watcher.on('error', () => {
            watcher.close();
            if (watchers.get(dir)?.watcher === watcher) watchers.delete(dir);
            soon();
          });
          watchers.set(dir, { identity, watcher });
        } catch {
          // gone between the scan and here: the next rescan sees it
        }
      }
    };
    this.onSettleDue = () => {
      clearTimeout(settle);
      settle = setTimeout(onChange, Math.max(0, this.settleDue! - this.now()) + 1);
    };
    const rescan = setInterval(() => void look(), this.rescanMs);
    void look();
    return () => {
      stopped = true;
      clearInterval(rescan);
      clearTimeout(quiet);
      clearTimeout(settle);
      this.onSettleDue = undefined;
      for (const { watcher } of watchers.values()) watcher.close();
      watchers.clear();
    };
  }

  private docsOf(file: string, entry: { hash: string; text?: string; error?: string }): ManifestDoc[] {
    if (entry.error !== undefined) return [{ file, doc: -1, error: `cannot read: ${entry.error}` }];
    const cached = this.parsed.get(file);
    if (cached?.hash === entry.hash) return cached.docs;
    const docs = parseManifests(entry.text!, file);
    this.parsed.set(file, { hash: entry.hash, docs });
    return docs;
  }
}

function objectCount(docs: ManifestDoc[]): number {
  return docs.filter((d) => d.object !== undefined && d.object !== null).length;
}

function within(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * Reads every manifest file under `paths` (as readManifestDocs chooses them: *.yaml, *.yml,
 * *.json, recursively, names starting with "." skipped, symlinked files followed), never throwing.
 */
async function scanPaths(paths: readonly string[]): Promise<Scan> {
  const scan: Scan = { files: new Map(), unreadable: new Map(), dirs: new Map() };
  const readOne = async (file: string) => {
    try {
      const text = await readFile(file, 'utf8');
      scan.files.set(file, { hash: createHash('sha256').update(text).digest('base64'), text });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      if (code === 'ENOENT') return; // deleted while we looked: absent
      scan.files.set(file, { hash: `error:${code}`, error: code });
    }
  };
  const walk = async (dir: string, identity: string) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      scan.unreadable.set(dir, (error as NodeJS.ErrnoException).code ?? (error as Error).message);
      return;
    }
    scan.dirs.set(dir, identity);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const child = join(dir, entry.name);
      if (entry.isDirectory()) {
        const info = await stat(child, { bigint: true }).catch(() => undefined);
        if (info) await walk(child, directoryIdentity(info));
      } else if (MANIFEST_FILE.test(entry.name)) await readOne(child);
    }
  };
  for (const path of paths) {
    let info;
    try {
      info = await stat(path, { bigint: true });
    } catch (error) {
      scan.unreadable.set(path, (error as NodeJS.ErrnoException).code ?? (error as Error).message);
      continue;
    }
    if (info.isDirectory()) await walk(path, directoryIdentity(info));
    else await readOne(path);
  }
  return scan;
}

function directoryIdentity(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.birthtimeNs}`;
}

function fingerprint(scan: Scan): string {
  const parts: string[] = [];
  for (const [file, { hash }] of scan.files) parts.push(`${file}\0${hash}`);
  for (const [dir, reason] of scan.unreadable) parts.push(`${dir}\0!${reason}`);
  return parts.sort().join('\n');
}
