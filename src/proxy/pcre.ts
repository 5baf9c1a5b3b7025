// Prints a RegularExpression match for HAProxy (PCRE2, byte mode) from the same tree that the
// Wasm matcher's program is compiled from (src/l7/regex.ts), so both accept the same byte strings:
// every byte is written as \xHH, classes as byte sets, `.` and negated classes as their UTF-8
// byte sequences, anchors as \A and \z (PCRE's `$` would also match before a final newline), and
// the whole pattern must match the whole value, as the Wasm matcher requires.

import { compileRegex, parseRegex, RegexUnsupportedError, type RegexNode } from '../l7/regex.ts';

export type PcreResult = { pattern: string } | { unsupported: string };

/** The PCRE text for `pattern`, or why the Wasm matcher does not take it (it then never matches). */
export function pcreFor(pattern: string): PcreResult {
  try {
    compileRegex(pattern); // the same limits as the Wasm program (size, instruction count)
    return { pattern: `\\A(?:${printNode(parseRegex(pattern))})\\z` };
  } catch (error) {
    if (error instanceof RegexUnsupportedError) return { unsupported: error.message };
    throw error;
  }
}

function byte(b: number): string {
  const c = String.fromCharCode(b);
  return /[A-Za-z0-9]/.test(c) ? c : `\\x${b.toString(16).padStart(2, '0')}`;
}

function printSet(set: Uint8Array): string {
  const has = (b: number) => (set[b >> 3]! & (1 << (b & 7))) !== 0;
  const ranges: string[] = [];
  for (let b = 0; b < 256; b++) {
    if (!has(b)) continue;
    let end = b;
    while (end < 255 && has(end + 1)) end++;
    ranges.push(end === b ? byte(b) : `${byte(b)}-${byte(end)}`);
    b = end;
  }
  return ranges.length === 0 ? '(?!)' : `[${ranges.join('')}]`;
}

/** An atom that a quantifier can follow without changing its meaning. */
function printAtom(node: RegexNode): string {
  const text = printNode(node);
  if (node.t === 'set') return text;
  if (node.t === 'bytes' && node.b.length === 1) return text;
  return `(?:${text})`;
}

function printNode(node: RegexNode): string {
  switch (node.t) {
    case 'bytes': return node.b.map(byte).join('');
    case 'set': return printSet(node.s);
    case 'utf8any': return '(?:[\\xc2-\\xdf][\\x80-\\xbf]|[\\xe0-\\xef][\\x80-\\xbf]{2}|[\\xf0-\\xf4][\\x80-\\xbf]{3})';
    case 'begin': return '\\A';
    case 'end': return '\\z';
    case 'cat': return node.n.map(printNode).join('');
    case 'alt': return `(?:${node.n.map(printNode).join('|')})`;
    case 'rep': {
      const q = node.max === -1 ? (node.min === 0 ? '*' : node.min === 1 ? '+' : `{${node.min},}`)
        : node.min === node.max ? `{${node.min}}` : node.min === 0 && node.max === 1 ? '?' : `{${node.min},${node.max}}`;
      return `${printAtom(node.n)}${q}`;
    }
  }
}
