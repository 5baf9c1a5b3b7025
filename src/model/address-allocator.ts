// Deterministic address assignment inside a CIDR: an object's address comes from a hash of its
// key, probing forward on collision. Callers reserve the addresses given in manifests first and
// allocate in sorted key order, so the result does not depend on document order.

import { formatAddress, type Cidr } from './ip.ts';
import { hash64 } from './hash.ts';

export class AddressAllocator {
  readonly #used = new Set<bigint>();
  readonly #firstUsable: bigint;
  readonly #usableCount: bigint;
  /** Usable addresses not yet taken: a full block answers at once instead of probing all of it. */
  #free: bigint;

  /**
   * Never hands out the network address, the first address after it (a Service CIDR's is the
   * API server's, a pod CIDR's the gateway's) and, for IPv4, the broadcast address.
   */
  constructor(readonly cidr: Cidr) {
    const reservedAtEnd = cidr.family === 4 ? 1n : 0n;
    this.#firstUsable = 2n;
    this.#usableCount = cidr.size > 2n + reservedAtEnd ? cidr.size - 2n - reservedAtEnd : 0n;
    this.#free = this.#usableCount;
  }

  /** Marks an address as taken. Returns false if it already was. */
  reserve(value: bigint): boolean {
    if (this.#used.has(value)) return false;
    this.#used.add(value);
    const offset = value - this.cidr.base - this.#firstUsable;
    if (offset >= 0n && offset < this.#usableCount) this.#free--;
    return true;
  }

  /** The address for `key`, or undefined when the CIDR is full. */
  allocate(key: string): string | undefined {
    if (this.#free <= 0n) return undefined;
    const start = hash64(key) % this.#usableCount;
    const attempts = this.#usableCount < 1_000_000n ? this.#usableCount : 1_000_000n;
    for (let i = 0n; i < attempts; i++) {
      const value = this.cidr.base + this.#firstUsable + ((start + i) % this.#usableCount);
      if (this.reserve(value)) return formatAddress({ family: this.cidr.family, value });
    }
    return undefined;
  }
}
