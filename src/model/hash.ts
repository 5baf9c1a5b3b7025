// Stable string hashes for deterministic names and addresses: the same text gives the same number
// on every run and platform (FNV-1a over UTF-16 code units).

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a; `seed` varies the start state to get independent hashes of one text. */
export function hash32(text: string, seed = 0): number {
  let hash = (FNV_OFFSET ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash;
}

/** 64 bits from two independent 32-bit hashes. */
export function hash64(text: string): bigint {
  return (BigInt(hash32(text, 0)) << 32n) | BigInt(hash32(text, 0x5bd1e995));
}

/** `length` characters (up to 16) of hexadecimal hash. */
export function hexHash(text: string, length: number): string {
  return hash64(text).toString(16).padStart(16, '0').slice(0, length);
}

/** JSON with object keys sorted, so that equal objects hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
