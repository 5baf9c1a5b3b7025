// Wasm backing of stackalloc<T>(): a zeroed scratch struct that lives until the decision ends.
// In C the generator turns each call into a zero-initialised local on the BPF stack. The policy
// subset has no recursion, so a ring far larger than one decision's scratch is never reused
// while still in use.
const ARENA_SIZE: usize = 65536;
let arena: usize = 0;
let arenaPos: usize = 0;

@inline export function stackalloc<T>(): T {
  const size = (offsetof<T>() + 7) & ~7;
  if (arena == 0) arena = heap.alloc(ARENA_SIZE);
  if (arenaPos + size > ARENA_SIZE) arenaPos = 0;
  const p = arena + arenaPos;
  arenaPos += size;
  memory.fill(p, 0, size);
  return changetype<T>(p);
}
