// Mutations of manifest text for the fuzzer: byte-level (flips, control characters, cut and
// repeated lines, YAML syntax pieces) and structural (a parsed fixture whose values are swapped for
// hostile ones: wrong types, huge numbers, long or control-character strings, deep nesting,
// repeated items, anchors and aliases), each from a seeded xorshift32 stream.
import { stringify } from 'yaml';
import { xorshift32 } from '../../src/sim/simulate.ts';

export class Random {
  constructor(private state: number) {
    this.state = state >>> 0 || 1;
  }

  next(): number {
    this.state = xorshift32(this.state);
    return this.state;
  }

  below(n: number): number {
    return this.next() % Math.max(1, n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  chance(oneIn: number): boolean {
    return this.below(oneIn) === 0;
  }
}

const YAML_PIECES = [
  '&a ', '*a', '<<: *a\n', '- ', ': ', '? ', '|\n', '>-\n', '---\n', '...\n', '!!binary ', '!!int ', '!custom ', '{', '}', '[', ']', ',', '"', "'",
  '\t', '#', '%YAML 1.1\n', '\ufeff', '\u0000', '\r', '\r\n', '\u001b[2J', '\u2028', 'null', '~', '0x10', '1e400', '-0', '.inf', 'NaN',
  '09', '0o7', 'yes', 'on', '2001-01-01', '::ffff:10.0.0.1', '127.0.0.1', '169.254.169.254', 'fe80::1', '10.96.0.300', '999999999999999999999',
];

const HOSTILE_VALUES: (() => unknown)[] = [
  () => null,
  () => true,
  () => 0,
  () => -1,
  () => 65536,
  () => 2 ** 53 + 1,
  () => 1e308,
  () => 0.5,
  () => '',
  () => 'x'.repeat(300),
  () => 'a\u0000b',
  () => 'a\r\nX-Injected: 1',
  () => '\u001b[2J',
  () => 'None',
  () => 'IPv6',
  () => ['IPv6', 'IPv4'],
  () => '0.0.0.0',
  () => '::1',
  () => 'fd00::1',
  () => '::ffff:10.96.0.1',
  () => '255.255.255.255',
  () => 'RegularExpression',
  () => '(a+)+$',
  () => '[',
  () => '/a//b',
  () => [],
  () => [[]],
  () => ({}),
  () => ({ a: { b: { c: { d: {} } } } }),
  () => Array.from({ length: 50 }, (_, i) => ({ name: `n${i}`, value: `${i}` })),
];

const KEYS = ['apiVersion', 'kind', 'metadata', 'name', 'namespace', 'spec', 'ports', 'port', 'targetPort', 'selector', 'replicas', 'clusterIP',
  'clusterIPs', 'ipFamilies', 'ipFamilyPolicy', 'endpoints', 'addresses', 'parentRefs', 'backendRefs', 'rules', 'matches', 'filters', 'weight',
  'headers', 'queryParams', 'path', 'type', 'value', 'items', 'labels', 'annotations', 'conditions', 'hostnames', 'timeouts', 'sessionAffinity'];

/** Byte-level mutations of `text`, 1 to 8 of them. */
export function mutateText(text: string, random: Random): string {
  let out = text;
  const count = 1 + random.below(8);
  for (let i = 0; i < count; i++) {
    const at = random.below(out.length + 1);
    switch (random.below(8)) {
      case 0: // flip a character
        out = out.slice(0, at) + String.fromCharCode(random.below(128)) + out.slice(at + 1);
        break;
      case 1: // insert a YAML piece or a hostile token
        out = out.slice(0, at) + random.pick(YAML_PIECES) + out.slice(at);
        break;
      case 2: { // delete a span
        const length = random.below(40);
        out = out.slice(0, at) + out.slice(at + length);
        break;
      }
      case 3: { // repeat a line
        const lines = out.split('\n');
        const line = random.below(lines.length);
        lines.splice(line, 0, ...Array<string>(1 + random.below(4)).fill(lines[line] ?? ''));
        out = lines.join('\n');
        break;
      }
      case 4: { // re-indent a line
        const lines = out.split('\n');
        const line = random.below(lines.length);
        lines[line] = ' '.repeat(random.below(6)) + (lines[line] ?? '').trimStart();
        out = lines.join('\n');
        break;
      }
      case 5: // a known key somewhere
        out = `${out.slice(0, at)}\n${random.pick(KEYS)}: ${random.pick(YAML_PIECES)}\n${out.slice(at)}`;
        break;
      case 6: // swap two lines
        {
          const lines = out.split('\n');
          const a = random.below(lines.length);
          const b = random.below(lines.length);
          [lines[a], lines[b]] = [lines[b]!, lines[a]!];
          out = lines.join('\n');
        }
        break;
      default: // a document separator
        out = `${out.slice(0, at)}\n---\n${out.slice(at)}`;
    }
  }
  return out;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** All paths to the nodes of `value`. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (out.length > 5000) return out;
  if (Array.isArray(value)) value.forEach((item, i) => paths(item, [...prefix, i], out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function getAt(root: unknown, path: (string | number)[]): unknown {
  return path.reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string | number, unknown>)[key] : undefined), root);
}

function setAt(root: Json, path: (string | number)[], value: unknown): Json {
  if (path.length === 0) return value as Json;
  const parent = getAt(root, path.slice(0, -1));
  if (parent && typeof parent === 'object') (parent as Record<string | number, unknown>)[path[path.length - 1]!] = value;
  return root;
}

/** Structural mutations of parsed documents, written back as YAML (or as JSON, one in eight). */
export function mutateStructure(documents: unknown[], random: Random): string {
  const docs = structuredClone(documents) as Json[];
  const count = 1 + random.below(5);
  for (let i = 0; i < count && docs.length > 0; i++) {
    const d = random.below(docs.length);
    const all = paths(docs[d]);
    const path = random.pick(all);
    const node = getAt(docs[d], path);
    switch (random.below(6)) {
      case 0:
      case 1:
        docs[d] = setAt(docs[d]!, path, random.pick(HOSTILE_VALUES)());
        break;
      case 2: // grow a list by repeating its items
        if (Array.isArray(node) && node.length > 0) node.push(...Array.from({ length: 1 + random.below(30) }, () => structuredClone(random.pick(node))));
        else docs[d] = setAt(docs[d]!, path, [node, node]);
        break;
      case 3: // nest deeply
        {
          let nested: Json = node as Json;
          for (let n = random.below(60); n > 0; n--) nested = random.chance(2) ? [nested] : { x: nested };
          docs[d] = setAt(docs[d]!, path, nested);
        }
        break;
      case 4: // a known key with a hostile value
        if (node && typeof node === 'object' && !Array.isArray(node)) (node as Record<string, unknown>)[random.pick(KEYS)] = random.pick(HOSTILE_VALUES)();
        break;
      default: // duplicate a whole document (same kind and name)
        docs.push(structuredClone(docs[d]!));
    }
  }
  if (random.chance(8)) return docs.map((doc) => JSON.stringify(doc)).join('\n');
  return docs.map((doc) => stringify(doc, { aliasDuplicateObjects: random.chance(3) })).join('---\n');
}
