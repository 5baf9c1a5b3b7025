// Collecting and printing diagnostics. A Reporter is bound to one object so that every problem it
// records names the file, document, line, kind, namespace and name without repeating them.

import type { Diagnostic, SourceRef } from './types.ts';
import type { FieldPath, Locator } from './manifest-doc.ts';

/** Where an object is: its document, and the path of the object inside it (for `List` items). */
export interface ObjectOrigin extends SourceRef {
  line?: number;
  locate?: Locator;
  /** Path of the object inside its document, e.g. `['items', 3]`; empty for a top-level object. */
  pathInDoc?: FieldPath;
}

export interface Subject {
  kind?: string;
  namespace?: string;
  name?: string;
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `['spec', 'ports', 0, 'port']` → `spec.ports[0].port`; keys such as `meshc.io/skip` in `["…"]`. */
export function formatFieldPath(path: FieldPath): string {
  let text = '';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else if (!PLAIN_KEY.test(part)) text += `[${JSON.stringify(part)}]`;
    else text += text === '' ? part : `.${part}`;
  }
  return text;
}

/**
 * `fixtures/x.yaml:12 (doc 2) Service default/product-api: spec.ports[0].port: 70000 is not a valid port (1-65535)`.
 * The document number is 1-based here, as people count; `Diagnostic.doc` is 0-based.
 * Warnings carry `warning:` after the location.
 */
export function formatDiagnostic(d: Diagnostic): string {
  let text = d.line !== undefined ? `${d.file}:${d.line}` : d.file;
  if (d.doc >= 0) text += ` (doc ${d.doc + 1})`;
  if (d.severity === 'warning') text += ' warning:';
  const object = formatSubject(d);
  if (object) text += ` ${object}`;
  text += ':';
  if (d.field) text += ` ${d.field}:`;
  return `${text} ${d.message}`;
}

/** A diagnostic as `--json` carries it: every key present (null when unknown), `document` 1-based. */
export interface DiagnosticJson {
  file: string;
  /** 1-based, as formatDiagnostic prints it; null for a problem of the whole file. */
  document: number | null;
  line: number | null;
  kind: string | null;
  namespace: string | null;
  name: string | null;
  field: string | null;
  message: string;
  severity: Diagnostic['severity'];
}

export function diagnosticJson(d: Diagnostic): DiagnosticJson {
  return {
    file: d.file,
    document: d.doc >= 0 ? d.doc + 1 : null,
    line: d.line ?? null,
    kind: d.kind ?? null,
    namespace: d.namespace ?? null,
    name: d.name ?? null,
    field: d.field ?? null,
    message: d.message,
    severity: d.severity,
  };
}

/** `ignored, not needed by meshc: 2 ConfigMap, 1 Secret`, or undefined when nothing was. */
export function formatIgnored(ignored: ReadonlyMap<string, number>): string | undefined {
  if (ignored.size === 0) return undefined;
  const kinds = [...ignored].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([kind, count]) => `${count} ${kind}`);
  return `ignored, not needed by meshc: ${kinds.join(', ')}`;
}

function formatSubject(d: Diagnostic): string {
  const name = d.namespace ? `${d.namespace}/${d.name ?? ''}` : d.name ?? '';
  return [d.kind, name].filter((part): part is string => Boolean(part)).map(printable).join(' ');
}

/** Control characters (NUL, CR, LF, ESC...) as `\u0000` escapes, so a bad name cannot garble a terminal. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A loaded value with the reporter of the object it came from, for problems found later. */
export interface WithReporter<T> {
  value: T;
  report: Reporter;
}

/** Records the problems of one object into a shared list. */
export class Reporter {
  #rejected = false;

  constructor(
    private readonly sink: Diagnostic[],
    private readonly origin: ObjectOrigin,
    private readonly subject: Subject = {},
  ) {}

  /** True once `reject` was called: the API server would have refused the object. */
  get rejected(): boolean {
    return this.#rejected;
  }

  /** A reporter for the same object with more known about it (its kind or name, once read). */
  about(subject: Subject): Reporter {
    return new Reporter(this.sink, this.origin, { ...this.subject, ...subject });
  }

  /** An error that makes the object invalid as a whole (the API server would refuse it). */
  reject(path: FieldPath | undefined, message: string): void {
    this.#rejected = true;
    this.report('error', path, message);
  }

  /** An error about one part of the object; the rest of it is still used. */
  error(path: FieldPath | undefined, message: string): void {
    this.report('error', path, message);
  }

  warn(path: FieldPath | undefined, message: string): void {
    this.report('warning', path, message);
  }

  private report(severity: Diagnostic['severity'], path: FieldPath | undefined, message: string): void {
    const diagnostic: Diagnostic = { severity, file: this.origin.file, doc: this.origin.doc, message };
    const line = this.lineOf(path);
    if (line !== undefined) diagnostic.line = line;
    if (this.subject.kind) diagnostic.kind = this.subject.kind;
    if (this.subject.namespace) diagnostic.namespace = this.subject.namespace;
    if (this.subject.name) diagnostic.name = this.subject.name;
    if (path && path.length > 0) diagnostic.field = formatFieldPath(path);
    this.sink.push(diagnostic);
  }

  /** The line of the field, or of its closest ancestor that the source can locate. */
  private lineOf(path: FieldPath | undefined): number | undefined {
    const { locate, pathInDoc = [] } = this.origin;
    if (locate) {
      const full = [...pathInDoc, ...(path ?? [])];
      for (let length = full.length; length >= 0; length--) {
        const line = locate(full.slice(0, length));
        if (line !== undefined) return line;
      }
    }
    return this.origin.line;
  }
}
