// Time, timers and randomness as values, so the source's backoff and coalescing are testable
// without sleeping (tests pass a manual clock and a fixed random).

export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds on a monotonic scale (only differences mean anything). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A clock that moves only when told: `advance(ms)` runs the timers that fall due, in order. */
export class ManualClock implements Clock {
  private time = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  get pending(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
    }
    this.time = end;
  }
}

export interface BackoffOptions {
  /** First delay. Default 250 ms. */
  initialMs?: number;
  /** Cap. Default 30 s. */
  maxMs?: number;
  /** Growth per failure. Default 2. */
  factor?: number;
  /** Spread: each delay is the nominal one times a random factor in [1 - jitter, 1 + jitter], capped. Default 0.2. */
  jitter?: number;
}

/** Capped exponential backoff with jitter. `next()` after each failure, `reset()` after a success. */
export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;

  constructor(options: BackoffOptions = {}, private readonly random: () => number = Math.random) {
    this.initialMs = options.initialMs ?? 250;
    this.maxMs = options.maxMs ?? 30_000;
    this.factor = options.factor ?? 2;
    this.jitter = options.jitter ?? 0.2;
    if (!(this.initialMs > 0)) throw new Error(`backoff.initialMs: must be > 0 (got ${this.initialMs})`);
    if (!(this.maxMs >= this.initialMs)) throw new Error(`backoff.maxMs: must be >= initialMs (got ${this.maxMs})`);
    if (!(this.factor >= 1)) throw new Error(`backoff.factor: must be >= 1 (got ${this.factor})`);
    if (!(this.jitter >= 0 && this.jitter < 1)) throw new Error(`backoff.jitter: must be in [0, 1) (got ${this.jitter})`);
  }

  /** Failures since the last reset. */
  get failures(): number {
    return this.attempt;
  }

  next(): number {
    const nominal = Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
    this.attempt++;
    const spread = 1 + this.jitter * (2 * this.random() - 1);
    return Math.min(this.maxMs, Math.round(nominal * spread));
  }

  reset(): void {
    this.attempt = 0;
  }
}
