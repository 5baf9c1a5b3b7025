// Maglev lookup table (Eisenbud et al., NSDI 2016): each backend fills ring positions in the
// order of its own permutation, taking turns, so every backend owns about M/N positions and
// removing one backend moves only the keys that pointed at it (about 1/N of them).
import { hash32 } from '../model/hash.ts';

/**
 * Returns, for each ring position, the index into `names` that owns it. `names` identify the
 * backends (their "ip:port"), so the ring does not depend on the order they are given in.
 */
export function maglevRing(inputNames: string[], ringSize: number): Uint32Array {
  const ring = new Uint32Array(ringSize).fill(0xffffffff);
  if (inputNames.length === 0) return ring;
  // Backends take turns in name order, so the ring depends on the set of names, not their order.
  const order = inputNames.map((_, i) => i).sort((a, b) => (inputNames[a]! < inputNames[b]! ? -1 : 1));
  const names = order.map((i) => inputNames[i]!);
  const offsets = names.map((name) => hash32(name, 0x2545f491) % ringSize);
  const skips = names.map((name) => (hash32(name, 0x9e3779b9) % (ringSize - 1)) + 1);
  const next = new Uint32Array(names.length);
  let filled = 0;
  while (true) {
    for (let i = 0; i < names.length; i++) {
      let position = (offsets[i] + next[i] * skips[i]) % ringSize;
      while (ring[position] !== 0xffffffff) {
        next[i]++;
        position = (offsets[i] + next[i] * skips[i]) % ringSize;
      }
      ring[position] = order[i]!;
      next[i]++;
      if (++filled === ringSize) return ring;
    }
  }
}
