// One YAML document of a manifest file, as the pure model builder receives it. Parsing (and with it
// the `yaml` package) stays outside the builder so that any source can feed it: files, a browser
// editor, the API server.

/** A path into an object: `['spec', 'ports', 0, 'port']`. */
export type FieldPath = readonly (string | number)[];

/** Finds the 1-based line of a field of the document's object, when the source knows it. */
export type Locator = (path: FieldPath) => number | undefined;

export interface ManifestDoc {
  file: string;
  /** 0-based index of the document in its file. */
  doc: number;
  /** 1-based line where the document's content starts. */
  line?: number;
  /** The parsed document; absent when `error` is set. */
  object?: unknown;
  /** Why the document could not be read (a YAML syntax error, an unreadable file); it is skipped. */
  error?: string;
  /** Optional: lines of individual fields, for precise diagnostics. */
  locate?: Locator;
}
