// The policy test file format (docs/policy-tests.md): YAML text in, checked test cases out, with
// every problem naming its field and line. Pure, so the playground and `meshc test` read a file
// the same way.

import { LineCounter, parseDocument, isScalar, Scalar, type Document } from 'yaml';
import { documentValue, YAML_OPTIONS } from '../model/parse.ts';
import type { ServiceTarget } from '../sim/target.ts';
import { parseServiceAddress } from '../sim/service-address.ts';
import { readDenied, type DeniedExpectation } from './netpol-expect.ts';

/** Where the manifests under test come from. */
export type ManifestSource = { paths: string[]; line?: number } | { inline: string; line?: number; firstLine?: number };

export interface TestRequest {
  to: ServiceTarget;
  /** Client pod, `namespace/name` or `name` (namespace default). */
  from?: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  query: Record<string, string[]>;
  connections: number;
  seed: number;
}

export interface RouteRef {
  namespace: string;
  name: string;
  /** Absent: any rule of the route. */
  rule?: number;
}

export interface Expectation {
  /** Every connection reaches this Service (`namespace/name`); none is refused. */
  backend?: string;
  /** true: every connection is refused; false: none is. */
  refused?: boolean;
  /** Every refusal has this reason (with `refused: true`). */
  reason?: string;
  /** The HTTPRoute rule that decides the request; null: no HTTPRoute applies. */
  route?: RouteRef | null;
  /** Share of all connections (0..1) per Service `namespace/name`; unlisted Services expect 0. */
  distribution?: Record<string, number>;
  /** Allowed absolute difference of each share in `distribution`. */
  tolerance: number;
  /** Network policy denies every connection (or, false, none): src/netpol/expect.ts. */
  denied?: DeniedExpectation;
}

export interface PolicyTestCase {
  name: string;
  /** 1-based line of the case in its file. */
  line?: number;
  request: TestRequest;
  expect: Expectation;
}

export interface PolicyTestFile {
  file: string;
  manifests?: ManifestSource;
  tests: PolicyTestCase[];
}

export interface TestFileProblem {
  file: string;
  line?: number;
  /** `tests[2].expect.backend` */
  field?: string;
  message: string;
}

export interface ParsedTestFile {
  /** Absent when the file cannot be used at all (syntax error, no `tests`). */
  suite?: PolicyTestFile;
  problems: TestFileProblem[];
}

/** `file:line: field: message` */
export function formatProblem(p: TestFileProblem): string {
  return `${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.field ? `${p.field}: ` : ''}${p.message}`;
}

export const DEFAULT_CONNECTIONS = 1000;
export const DEFAULT_SEED = 1;
export const DEFAULT_TOLERANCE = 0.05;
const MAX_CONNECTIONS = 1_000_000;

const TOP_KEYS = ['manifests', 'defaults', 'tests'];
const DEFAULT_KEYS = ['to', 'from', 'method', 'connections', 'seed', 'tolerance'];
const CASE_KEYS = ['name', 'request', 'expect'];
const REQUEST_KEYS = ['to', 'from', 'method', 'path', 'headers', 'query', 'connections', 'seed'];
const EXPECT_KEYS = ['backend', 'refused', 'reason', 'route', 'distribution', 'tolerance', 'denied'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type Path = (string | number)[];
type Obj = Record<string, unknown>;

function fieldText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Reads the plain JS value of a document and reports problems at the line of the field. */
class Reader {
  readonly problems: TestFileProblem[] = [];

  constructor(
    readonly file: string,
    private readonly document: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  line(path: Path): number | undefined {
    for (let length = path.length; length >= 0; length--) {
      let node: unknown;
      try {
        node = length === 0 ? this.document.contents : this.document.getIn(path.slice(0, length), true);
      } catch {
        continue;
      }
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range) return this.lines.linePos(range[0]).line;
    }
    return undefined;
  }

  problem(path: Path, message: string): void {
    const problem: TestFileProblem = { file: this.file, message };
    const line = this.line(path);
    if (line !== undefined) problem.line = line;
    if (path.length > 0) problem.field = fieldText(path);
    this.problems.push(problem);
  }

  object(value: unknown, path: Path, known: string[]): Obj | undefined {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.problem(path, `must be a mapping, got ${describe(value)}`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) this.problem([...path, key], `unknown field (known: ${known.join(', ')})`);
    }
    return value as Obj;
  }

  string(value: unknown, path: Path): string | undefined {
    if (typeof value === 'string' && value !== '') return value;
    this.problem(path, `must be a non-empty string, got ${describe(value)}`);
    return undefined;
  }

  integer(value: unknown, path: Path, min: number, max: number): number | undefined {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    this.problem(path, `must be an integer from ${min} to ${max}, got ${describe(value)}`);
    return undefined;
  }

  /** A fraction 0..1 as a number, or a percentage string such as "70%". */
  share(value: unknown, path: Path): number | undefined {
    if (typeof value === 'number' && value >= 0 && value <= 1) return value;
    if (typeof value === 'string') {
      const match = /^\s*(\d+(\.\d+)?)\s*%\s*$/.exec(value);
      if (match && Number(match[1]) <= 100) return Number(match[1]) / 100;
    }
    this.problem(path, `must be a fraction from 0 to 1 or a percentage such as "70%", got ${describe(value)}`);
    return undefined;
  }
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value);
}

/** `name` (in `namespace`) or `namespace/name`. */
export function serviceKey(text: string, namespace: string): string | undefined {
  const parts = text.trim().split('/');
  if (parts.length === 1 && DNS_LABEL.test(parts[0]!)) return `${namespace}/${parts[0]}`;
  if (parts.length === 2 && DNS_LABEL.test(parts[0]!) && DNS_LABEL.test(parts[1]!)) return `${parts[0]}/${parts[1]}`;
  return undefined;
}

/** `name`, `name#rule`, `namespace/name#rule`, or `none`. */
export function parseRouteRef(text: string, namespace: string): RouteRef | null | undefined {
  if (text.trim() === 'none') return null;
  const match = /^(([a-z0-9][-a-z0-9]*)\/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(#(\d+))?$/.exec(text.trim());
  if (!match) return undefined;
  const ref: RouteRef = { namespace: match[2] ?? namespace, name: match[3]! };
  if (match[6] !== undefined) ref.rule = Number(match[6]);
  return ref;
}

interface Defaults {
  to?: ServiceTarget;
  from?: string;
  method?: string;
  connections?: number;
  seed?: number;
  tolerance?: number;
}

export function parseTestFile(text: string, file: string): ParsedTestFile {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, ...YAML_OPTIONS });
  const read = documentValue(document);
  if ('message' in read) {
    const problem: TestFileProblem = { file, message: read.message };
    if (read.offset !== undefined) problem.line = lines.linePos(read.offset).line;
    return { problems: [problem] };
  }
  const r = new Reader(file, document, lines);
  const root = r.object(read.value ?? {}, [], TOP_KEYS);
  if (!root) return { problems: r.problems };
  const suite: PolicyTestFile = { file, tests: [] };
  if (root.manifests !== undefined) {
    const manifests = readManifests(r, document, lines, root.manifests);
    if (manifests) suite.manifests = manifests;
  }
  const defaults = root.defaults === undefined ? {} : readDefaults(r, root.defaults);
  if (!Array.isArray(root.tests)) {
    r.problem(root.tests === undefined ? [] : ['tests'], root.tests === undefined ? 'no `tests` list' : `tests: must be a list of test cases, got ${describe(root.tests)}`);
    return { problems: r.problems };
  }
  const names = new Set<string>();
  root.tests.forEach((item, index) => {
    const test = readCase(r, item, index, defaults);
    if (!test) return;
    if (names.has(test.name)) r.problem(['tests', index, 'name'], `duplicate test name "${test.name}"`);
    names.add(test.name);
    suite.tests.push(test);
  });
  if (root.tests.length === 0) r.problem(['tests'], 'the list of tests is empty');
  return { suite, problems: r.problems };
}

function readManifests(r: Reader, document: Document.Parsed, lines: LineCounter, value: unknown): ManifestSource | undefined {
  const line = r.line(['manifests']);
  if (typeof value === 'string') return { paths: [value], line };
  if (Array.isArray(value)) {
    const paths = value.flatMap((p, i) => r.string(p, ['manifests', i]) ?? []);
    return paths.length === value.length && paths.length > 0 ? { paths, line } : undefined;
  }
  const object = r.object(value, ['manifests'], ['inline']);
  if (!object) return undefined;
  const inline = typeof object.inline === 'string' ? object.inline : undefined;
  if (inline === undefined) {
    r.problem(['manifests'], 'must be a path, a list of paths, or {inline: "<YAML text>"}');
    return undefined;
  }
  // A block scalar's content starts on the line after its header, line for line: keep the offset
  // so that manifest diagnostics can point into the test file.
  const node = document.getIn(['manifests', 'inline'], true);
  const source: ManifestSource = { inline, line };
  if (isScalar(node) && (node.type === Scalar.BLOCK_LITERAL) && node.range) {
    source.firstLine = lines.linePos(node.range[0]).line + 1;
  }
  return source;
}

function readDefaults(r: Reader, value: unknown): Defaults {
  const object = r.object(value, ['defaults'], DEFAULT_KEYS);
  if (!object) return {};
  const defaults: Defaults = {};
  if (object.to !== undefined) defaults.to = readTarget(r, object.to, ['defaults', 'to']);
  if (object.from !== undefined) defaults.from = r.string(object.from, ['defaults', 'from']);
  if (object.method !== undefined) defaults.method = r.string(object.method, ['defaults', 'method']);
  if (object.connections !== undefined) defaults.connections = r.integer(object.connections, ['defaults', 'connections'], 1, MAX_CONNECTIONS);
  if (object.seed !== undefined) defaults.seed = r.integer(object.seed, ['defaults', 'seed'], 0, 0xffffffff);
  if (object.tolerance !== undefined) defaults.tolerance = r.share(object.tolerance, ['defaults', 'tolerance']);
  return defaults;
}

function readTarget(r: Reader, value: unknown, path: Path): ServiceTarget | undefined {
  const text = r.string(value, path);
  if (text === undefined) return undefined;
  const target = parseServiceAddress(text);
  if (target && 'clusterIP' in target) {
    r.problem(path, `"${text}" is a ClusterIP: a test names its Service (NAME[.NAMESPACE]:PORT), whose namespace its expectations default to`);
    return undefined;
  }
  if (!target) r.problem(path, `"${text}" is not NAME[.NAMESPACE]:PORT, NAME.NAMESPACE.svc[.cluster.local]:PORT or NAMESPACE/NAME:PORT`);
  return target;
}

function readCase(r: Reader, value: unknown, index: number, defaults: Defaults): PolicyTestCase | undefined {
  const at: Path = ['tests', index];
  const object = r.object(value, at, CASE_KEYS);
  if (!object) return undefined;
  const name = object.name === undefined ? `test ${index + 1}` : r.string(object.name, [...at, 'name']);
  const request = readRequest(r, object.request ?? {}, [...at, 'request'], defaults);
  if (object.expect === undefined) {
    r.problem(at, 'no `expect`: say what should happen (backend, refused, route or distribution)');
    return undefined;
  }
  const expect = request && readExpect(r, object.expect, [...at, 'expect'], request.to.namespace, defaults);
  if (name === undefined || !request || !expect) return undefined;
  const test: PolicyTestCase = { name, request, expect };
  const line = r.line(at);
  if (line !== undefined) test.line = line;
  return test;
}

function readRequest(r: Reader, value: unknown, path: Path, defaults: Defaults): TestRequest | undefined {
  const object = r.object(value, path, REQUEST_KEYS);
  if (!object) return undefined;
  let ok = true;
  const to = object.to === undefined ? defaults.to : readTarget(r, object.to, [...path, 'to']);
  if (!to) {
    if (object.to === undefined) r.problem(path, 'no `to`: give request.to (or defaults.to) as NAME[.NAMESPACE]:PORT');
    ok = false;
  }
  const request: Partial<TestRequest> = {
    to,
    method: defaults.method ?? 'GET',
    path: '/',
    headers: {},
    query: {},
    connections: defaults.connections ?? DEFAULT_CONNECTIONS,
    seed: defaults.seed ?? DEFAULT_SEED,
  };
  const from = object.from === undefined ? defaults.from : r.string(object.from, [...path, 'from']);
  if (from !== undefined) request.from = from;
  if (object.method !== undefined) {
    const method = r.string(object.method, [...path, 'method']);
    if (method === undefined) ok = false;
    else request.method = method;
  }
  if (object.path !== undefined) {
    const text = r.string(object.path, [...path, 'path']);
    if (text === undefined || !text.startsWith('/')) {
      if (text !== undefined) r.problem([...path, 'path'], `must start with "/", got ${JSON.stringify(text)}`);
      ok = false;
    } else {
      const { path: p, query } = splitPath(text);
      request.path = p;
      request.query = query;
    }
  }
  if (object.headers !== undefined) {
    const headers = r.object(object.headers, [...path, 'headers'], Object.keys(object.headers ?? {}));
    if (!headers) ok = false;
    for (const [k, v] of Object.entries(headers ?? {})) {
      const problem = headerProblem(k, v);
      if (problem) {
        r.problem([...path, 'headers', k], problem);
        ok = false;
      } else {
        request.headers![k] = String(v);
      }
    }
  }
  if (object.query !== undefined) {
    const query = r.object(object.query, [...path, 'query'], Object.keys(object.query ?? {}));
    if (!query) ok = false;
    for (const [k, v] of Object.entries(query ?? {})) {
      const values = Array.isArray(v) ? v : [v];
      if (values.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) {
        (request.query![k] ??= []).push(...values.map(String));
      } else {
        r.problem([...path, 'query', k], `must be a string or a list of strings, got ${describe(v)}`);
        ok = false;
      }
    }
  }
  if (object.connections !== undefined) {
    request.connections = r.integer(object.connections, [...path, 'connections'], 1, MAX_CONNECTIONS);
    if (request.connections === undefined) ok = false;
  }
  if (object.seed !== undefined) {
    request.seed = r.integer(object.seed, [...path, 'seed'], 0, 0xffffffff);
    if (request.seed === undefined) ok = false;
  }
  return ok ? (request as TestRequest) : undefined;
}

/** `/a/b?x=1&y=2` → path `/a/b`, query {x: ['1'], y: ['2']}. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/** Why a test request's header cannot be sent, or undefined: a name must be an HTTP token, a value a scalar without CR, LF or NUL. */
function headerProblem(name: string, value: unknown): string | undefined {
  if (!HEADER_NAME.test(name)) return `${JSON.stringify(name)} is not a valid header name (an HTTP token)`;
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return `must be a string, got ${describe(value)}`;
  if (/[\r\n\0]/.test(String(value))) return `${JSON.stringify(String(value))} contains CR, LF or NUL, which no request header holds`;
  return undefined;
}

export function splitPath(text: string): { path: string; query: Record<string, string[]> } {
  const hash = text.indexOf('#');
  const target = hash < 0 ? text : text.slice(0, hash);
  const q = target.indexOf('?');
  const query: Record<string, string[]> = {};
  if (q < 0) return { path: target || '/', query };
  for (const part of target.slice(q + 1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const key = decodeQueryPart(eq < 0 ? part : part.slice(0, eq));
    (query[key] ??= []).push(eq < 0 ? '' : decodeQueryPart(part.slice(eq + 1)));
  }
  return { path: target.slice(0, q) || '/', query };
}

/** `%xx` escapes decoded; a malformed escape is kept as written, as a server would see it. */
function decodeQueryPart(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function readExpect(r: Reader, value: unknown, path: Path, namespace: string, defaults: Defaults): Expectation | undefined {
  const object = r.object(value, path, EXPECT_KEYS);
  if (!object) return undefined;
  const before = r.problems.length;
  const expect: Expectation = { tolerance: defaults.tolerance ?? DEFAULT_TOLERANCE };
  if (object.backend !== undefined) {
    const text = r.string(object.backend, [...path, 'backend']);
    const key = text === undefined ? undefined : serviceKey(text, namespace);
    if (text !== undefined && !key) r.problem([...path, 'backend'], `"${text}" is not a Service name or namespace/name`);
    if (key) expect.backend = key;
  }
  if (object.refused !== undefined) {
    if (typeof object.refused === 'boolean') expect.refused = object.refused;
    else r.problem([...path, 'refused'], `must be true or false, got ${describe(object.refused)}`);
  }
  if (object.reason !== undefined) {
    const text = r.string(object.reason, [...path, 'reason']);
    if (text !== undefined) expect.reason = text;
    if (object.refused !== true) r.problem([...path, 'reason'], 'only means something with `refused: true`');
  }
  if (object.route !== undefined) {
    const text = r.string(object.route, [...path, 'route']);
    const ref = text === undefined ? undefined : parseRouteRef(text, namespace);
    if (text !== undefined && ref === undefined) r.problem([...path, 'route'], `"${text}" is not NAME, NAME#RULE, NAMESPACE/NAME#RULE or none`);
    if (ref !== undefined) expect.route = ref;
  }
  if (object.distribution !== undefined) {
    const shares = r.object(object.distribution, [...path, 'distribution'], Object.keys(object.distribution ?? {}));
    if (shares) {
      const distribution: Record<string, number> = {};
      for (const [name, share] of Object.entries(shares)) {
        const key = serviceKey(name, namespace);
        if (!key) r.problem([...path, 'distribution', name], `"${name}" is not a Service name or namespace/name`);
        const value = r.share(share, [...path, 'distribution', name]);
        if (key && value !== undefined) distribution[key] = value;
      }
      if (Object.keys(shares).length === 0) r.problem([...path, 'distribution'], 'is empty: list Services and their shares');
      expect.distribution = distribution;
    }
  }
  if (object.tolerance !== undefined) {
    const tolerance = r.share(object.tolerance, [...path, 'tolerance']);
    if (tolerance !== undefined) expect.tolerance = tolerance;
    if (object.distribution === undefined) r.problem([...path, 'tolerance'], 'only means something with `distribution`');
  }
  if (expect.backend !== undefined && expect.refused === true) {
    r.problem(path, '`backend` and `refused: true` contradict each other');
  }
  if (object.denied !== undefined) {
    const denied = readDenied(object.denied);
    if (typeof denied === 'string') r.problem([...path, 'denied'], denied);
    else expect.denied = denied;
  }
  if (['backend', 'refused', 'route', 'distribution', 'denied'].every((k) => object[k] === undefined)) {
    r.problem(path, 'says nothing to check: give backend, refused, route, distribution or denied');
  }
  return r.problems.length === before ? expect : undefined;
}
