// Compiles the supported subset of RegularExpression matches into a small NFA program that the
// Wasm matcher runs in linear time (a Pike VM: no backtracking, so no catastrophic patterns).
//
// Dialect: JavaScript's syntax (the model validates patterns with RegExp), restricted to:
//   literals and escapes (\n \t \xHH \uHHHH \. ...), `.`, classes `[a-z]` `[^...]`, \d \w \s and
//   their negations, groups `(...)` `(?:...)` `(?<name>...)`, alternation `|`, quantifiers
//   `* + ? {m} {m,} {m,n}` (lazy forms too: without captures they accept the same strings),
//   and the anchors `^` `$`.
// Not supported (reported, the match never matches): backreferences, lookaround, \b \B, \p{...},
// \cX, flags, non-ASCII characters inside a class, programs above MAX_INSTRUCTIONS.
// Semantics: the pattern must match the WHOLE value (as Envoy's RE2 full match does), so `/api`
// does not match `/api/v1`; write `/api.*`. Matching is on UTF-8 bytes: `.` and negated classes
// consume one whole UTF-8 character; \s knows only ASCII white space.

export const MAX_INSTRUCTIONS = 4000;

// Program layout (little-endian), also in assembly/l7/layout.ts:
//   u16 instructionCount, u16 classCount,
//   instructionCount x 8 bytes: u8 op, u8 byte, u16 x, u16 y, u16 reserved
//   classCount x 32 bytes: a 256-bit byte set (bit b of byte b>>3 set when byte b is in the class)
export const OP_BYTE = 0; // consume `byte`
export const OP_CLASS = 1; // consume a byte in class x
export const OP_SPLIT = 2; // continue at x and at y
export const OP_JUMP = 3; // continue at x
export const OP_MATCH = 4; // accept if at the end of the input
export const OP_BEGIN = 5; // assert position 0
export const OP_END = 6; // assert end of input

export class RegexUnsupportedError extends Error {}

type ByteSet = Uint8Array; // 32 bytes

/** The parsed pattern; src/proxy/pcre.ts prints the same tree for HAProxy. */
export type RegexNode = Node;
type Node =
  | { t: 'bytes'; b: number[] }
  | { t: 'set'; s: ByteSet }
  | { t: 'utf8any' } // one multi-byte UTF-8 character
  | { t: 'cat'; n: Node[] }
  | { t: 'alt'; n: Node[] }
  | { t: 'rep'; n: Node; min: number; max: number } // max -1: unbounded
  | { t: 'begin' }
  | { t: 'end' };

/** An ASCII class with a flag for "and every non-ASCII character". */
interface CharClass {
  ascii: boolean[]; // 128 entries
  nonAscii: boolean;
}

function asciiClass(pred: (c: number) => boolean, nonAscii: boolean): CharClass {
  return { ascii: Array.from({ length: 128 }, (_, c) => pred(c)), nonAscii };
}
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isWord = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

const ESCAPE_CLASSES: Record<string, CharClass> = {
  d: asciiClass(isDigit, false),
  D: asciiClass((c) => !isDigit(c), true),
  w: asciiClass(isWord, false),
  W: asciiClass((c) => !isWord(c), true),
  s: asciiClass(isSpace, false),
  S: asciiClass((c) => !isSpace(c), true),
};
const CONTROL_ESCAPES: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b, f: 0x0c, '0': 0 };

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    const node = this.alternation();
    if (this.i < this.src.length) throw new RegexUnsupportedError(`unbalanced ")" at ${this.i}`);
    return node;
  }

  private peek(): string | undefined { return this.src[this.i]; }

  private alternation(): Node {
    const branches = [this.concatenation()];
    while (this.peek() === '|') {
      this.i++;
      branches.push(this.concatenation());
    }
    return branches.length === 1 ? branches[0] : { t: 'alt', n: branches };
  }

  private concatenation(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.peek() !== '|' && this.peek() !== ')') items.push(this.repeat());
    return { t: 'cat', n: items };
  }

  private repeat(): Node {
    let node = this.atom();
    for (;;) {
      const c = this.peek();
      let min: number, max: number;
      if (c === '*') { min = 0; max = -1; this.i++; }
      else if (c === '+') { min = 1; max = -1; this.i++; }
      else if (c === '?') { min = 0; max = 1; this.i++; }
      else if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
        if (!m) return node; // a literal "{" (JavaScript's Annex B)
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
        if (max !== -1 && max < min) throw new RegexUnsupportedError(`quantifier {${min},${max}} out of order`);
        if (min > MAX_INSTRUCTIONS || max > MAX_INSTRUCTIONS) throw new RegexUnsupportedError(`quantifier ${m[0]} is too large`);
        this.i += m[0].length;
      } else return node;
      if (node.t === 'begin' || node.t === 'end') throw new RegexUnsupportedError('quantified anchor');
      if (this.peek() === '?') this.i++; // lazy: same accepted strings without captures
      node = { t: 'rep', n: node, min, max };
    }
  }

  private atom(): Node {
    const c = this.src[this.i];
    switch (c) {
      case '(': return this.group();
      case '[': return this.classAtom();
      case '.': this.i++; return classNode(asciiClass((b) => b !== 0x0a && b !== 0x0d, true));
      case '^': this.i++; return { t: 'begin' };
      case '$': this.i++; return { t: 'end' };
      case '\\': return this.escapeAtom();
      case '*': case '+': case '?': throw new RegexUnsupportedError(`nothing to repeat at ${this.i}`);
      default: {
        const cp = this.src.codePointAt(this.i)!;
        this.i += cp > 0xffff ? 2 : 1;
        return { t: 'bytes', b: utf8Bytes(cp) };
      }
    }
  }

  private group(): Node {
    this.i++; // (
    if (this.src.startsWith('?:', this.i)) this.i += 2;
    else if (/^\?<[A-Za-z_$][\w$]*>/.test(this.src.slice(this.i))) this.i = this.src.indexOf('>', this.i) + 1;
    else if (this.peek() === '?') throw new RegexUnsupportedError('lookaround and group flags are not supported');
    const inner = this.alternation();
    if (this.peek() !== ')') throw new RegexUnsupportedError('missing ")"');
    this.i++;
    return inner;
  }

  private escapeAtom(): Node {
    const e = this.src[this.i + 1];
    if (e === undefined) throw new RegexUnsupportedError('pattern ends with "\\"');
    if (ESCAPE_CLASSES[e]) { this.i += 2; return classNode(ESCAPE_CLASSES[e]); }
    if (e === 'b' || e === 'B') throw new RegexUnsupportedError('word boundaries (\\b, \\B) are not supported');
    if (/[1-9]/.test(e) || e === 'k') throw new RegexUnsupportedError('backreferences are not supported');
    return { t: 'bytes', b: utf8Bytes(this.escapedCodePoint()) };
  }

  /** A single-character escape at `\`: control characters, \xHH, \uHHHH, \u{...}, identity escapes. */
  private escapedCodePoint(): number {
    const e = this.src[this.i + 1];
    if (e in CONTROL_ESCAPES && !(e === '0' && /\d/.test(this.src[this.i + 2] ?? ''))) { this.i += 2; return CONTROL_ESCAPES[e]; }
    if (e === 'x') {
      const m = /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.i + 2));
      if (m) { this.i += 4; return parseInt(m[0], 16); }
    }
    if (e === 'u') {
      const m = /^(?:([0-9a-fA-F]{4})|\{([0-9a-fA-F]{1,6})\})/.exec(this.src.slice(this.i + 2));
      if (m) { this.i += 2 + m[0].length; return parseInt(m[1] ?? m[2], 16); }
    }
    if (e === 'c' || e === 'p' || e === 'P' || /\d/.test(e)) throw new RegexUnsupportedError(`escape \\${e} is not supported`);
    const cp = this.src.codePointAt(this.i + 1)!;
    this.i += cp > 0xffff ? 3 : 2;
    return cp;
  }

  private classAtom(): Node {
    this.i++; // [
    let negate = false;
    if (this.peek() === '^') { negate = true; this.i++; }
    const cls: CharClass = asciiClass(() => false, false);
    const addCode = (cp: number) => {
      if (cp >= 0x80) throw new RegexUnsupportedError('non-ASCII characters inside a class are not supported');
      cls.ascii[cp] = true;
    };
    while (this.peek() !== ']') {
      if (this.i >= this.src.length) throw new RegexUnsupportedError('missing "]"');
      const lo = this.classChar();
      if (typeof lo !== 'number') {
        lo.ascii.forEach((v, b) => { if (v) cls.ascii[b] = true; });
        cls.nonAscii ||= lo.nonAscii;
        continue;
      }
      if (this.peek() === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length) {
        this.i++;
        const hi = this.classChar();
        if (typeof hi !== 'number') throw new RegexUnsupportedError('a class escape cannot end a range');
        if (hi < lo) throw new RegexUnsupportedError('range out of order in class');
        for (let cp = lo; cp <= hi; cp++) addCode(cp);
      } else addCode(lo);
    }
    this.i++; // ]
    if (negate) return classNode({ ascii: cls.ascii.map((v) => !v), nonAscii: !cls.nonAscii });
    return classNode(cls);
  }

  /** One class member: a code point, or a class escape such as \d. */
  private classChar(): number | CharClass {
    if (this.peek() !== '\\') {
      const cp = this.src.codePointAt(this.i)!;
      this.i += cp > 0xffff ? 2 : 1;
      return cp;
    }
    const e = this.src[this.i + 1];
    if (e !== undefined && ESCAPE_CLASSES[e]) { this.i += 2; return ESCAPE_CLASSES[e]; }
    if (e === 'b') { this.i += 2; return 0x08; }
    if (e === undefined) throw new RegexUnsupportedError('pattern ends with "\\"');
    return this.escapedCodePoint();
  }
}

function classNode(cls: CharClass): Node {
  const s = new Uint8Array(32);
  cls.ascii.forEach((v, b) => { if (v) s[b >> 3] |= 1 << (b & 7); });
  const ascii: Node = { t: 'set', s };
  return cls.nonAscii ? { t: 'alt', n: [ascii, { t: 'utf8any' }] } : ascii;
}

function utf8Bytes(cp: number): number[] {
  return [...new TextEncoder().encode(String.fromCodePoint(cp))];
}

function rangeSet(lo: number, hi: number): ByteSet {
  const s = new Uint8Array(32);
  for (let b = lo; b <= hi; b++) s[b >> 3] |= 1 << (b & 7);
  return s;
}

/** Any well-formed multi-byte UTF-8 sequence (lead byte and its continuation bytes). */
const UTF8_ANY: Node = (() => {
  const cont: Node = { t: 'set', s: rangeSet(0x80, 0xbf) };
  return {
    t: 'alt',
    n: [
      { t: 'cat', n: [{ t: 'set', s: rangeSet(0xc2, 0xdf) }, cont] },
      { t: 'cat', n: [{ t: 'set', s: rangeSet(0xe0, 0xef) }, cont, cont] },
      { t: 'cat', n: [{ t: 'set', s: rangeSet(0xf0, 0xf4) }, cont, cont, cont] },
    ],
  };
})();

interface Instr { op: number; byte: number; x: number; y: number }

class Emitter {
  readonly code: Instr[] = [];
  readonly sets: ByteSet[] = [];
  private readonly setIndex = new Map<string, number>();

  emit(op: number, x = 0, y = 0, byte = 0): number {
    if (this.code.length >= MAX_INSTRUCTIONS) throw new RegexUnsupportedError(`the compiled pattern exceeds ${MAX_INSTRUCTIONS} instructions`);
    this.code.push({ op, byte, x, y });
    return this.code.length - 1;
  }

  set(s: ByteSet): number {
    const key = s.join(',');
    let k = this.setIndex.get(key);
    if (k === undefined) {
      k = this.sets.length;
      this.sets.push(s);
      this.setIndex.set(key, k);
    }
    return k;
  }

  node(n: Node): void {
    switch (n.t) {
      case 'bytes': for (const b of n.b) this.emit(OP_BYTE, 0, 0, b); return;
      case 'set': this.emit(OP_CLASS, this.set(n.s)); return;
      case 'utf8any': this.node(UTF8_ANY); return;
      case 'begin': this.emit(OP_BEGIN); return;
      case 'end': this.emit(OP_END); return;
      case 'cat': for (const m of n.n) this.node(m); return;
      case 'alt': {
        // split L1, next; L1: a; jump end; next: split L2, ... ; last branch falls through
        const jumps: number[] = [];
        n.n.forEach((branch, k) => {
          if (k < n.n.length - 1) {
            const split = this.emit(OP_SPLIT);
            this.code[split].x = this.code.length;
            this.node(branch);
            jumps.push(this.emit(OP_JUMP));
            this.code[split].y = this.code.length;
          } else this.node(branch);
        });
        for (const j of jumps) this.code[j].x = this.code.length;
        return;
      }
      case 'rep': {
        for (let k = 0; k < n.min; k++) this.node(n.n);
        if (n.max === -1) {
          const split = this.emit(OP_SPLIT);
          this.code[split].x = this.code.length;
          this.node(n.n);
          this.emit(OP_JUMP, split);
          this.code[split].y = this.code.length;
        } else {
          const splits: number[] = [];
          for (let k = n.min; k < n.max; k++) {
            const split = this.emit(OP_SPLIT);
            this.code[split].x = this.code.length;
            splits.push(split);
            this.node(n.n);
          }
          for (const s of splits) this.code[s].y = this.code.length;
        }
        return;
      }
    }
  }
}

/** The tree of `pattern`; throws RegexUnsupportedError saying why it is outside the subset. */
export function parseRegex(pattern: string): RegexNode {
  return new Parser(pattern).parse();
}

/** The program for `pattern`; throws RegexUnsupportedError saying why it is outside the subset. */
export function compileRegex(pattern: string): Uint8Array {
  const e = new Emitter();
  e.node(parseRegex(pattern));
  e.emit(OP_MATCH);
  const out = new Uint8Array(4 + e.code.length * 8 + e.sets.length * 32);
  if (out.length > 0xffff) throw new RegexUnsupportedError(`the compiled pattern is ${out.length} bytes, above the limit of 65535`);
  const v = new DataView(out.buffer);
  v.setUint16(0, e.code.length, true);
  v.setUint16(2, e.sets.length, true);
  e.code.forEach((ins, k) => {
    const at = 4 + k * 8;
    v.setUint8(at, ins.op);
    v.setUint8(at + 1, ins.byte);
    v.setUint16(at + 2, ins.x, true);
    v.setUint16(at + 4, ins.y, true);
  });
  e.sets.forEach((s, k) => out.set(s, 4 + e.code.length * 8 + k * 32));
  return out;
}

/** The program that never matches, for a pattern outside the subset. */
export const NEVER_MATCHES = new Uint8Array(4);
