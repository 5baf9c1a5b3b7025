// How a value becomes one word of haproxy.cfg. HAProxy's tokenizer works like a shell's: inside
// double quotes it resolves \" \\ \xHH and expands $VARIABLES, inside single quotes nothing.

/** A string as one double-quoted word: printable ASCII as is, `"` `\` `$` escaped, other bytes \xHH. */
export function quoted(value: string): string {
  let out = '"';
  for (const b of new TextEncoder().encode(value)) {
    const c = String.fromCharCode(b);
    if (c === '"' || c === '\\' || c === '$') out += `\\${c}`;
    else if (b >= 0x20 && b < 0x7f) out += c;
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}"`;
}

/** A log-format string (header values, redirect locations, paths) as one word: `%` doubled, then quoted. */
export function formatWord(literal: string): string {
  return quoted(literal.replace(/%/g, '%%'));
}

/** Bytes as a PCRE literal: letters and digits as they are, every other byte \xHH. */
export function bytesRegex(s: string): string {
  return [...new TextEncoder().encode(s)].map((b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9]/.test(c) ? c : `\\x${b.toString(16).padStart(2, '0')}`;
  }).join('');
}

/** A PCRE pattern (from pcre.ts: ASCII without `'`) as one single-quoted word, backslashes kept. */
export function singleQuoted(pattern: string): string {
  if (pattern.includes("'") || /[^\x20-\x7e]/.test(pattern)) throw new Error(`cannot single-quote ${JSON.stringify(pattern)}`);
  return `'${pattern}'`;
}

/** A proxy, ACL or server name: HAProxy takes letters, digits, `-`, `_`, `.` and `:`. */
export function sectionName(...parts: string[]): string {
  const name = parts.join('.');
  if (!/^[A-Za-z0-9_.:-]+$/.test(name)) throw new Error(`${JSON.stringify(name)} is not a valid HAProxy name`);
  return name;
}
