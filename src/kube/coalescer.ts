// Turns a burst of events into one flush: the flush runs once no event has come for `quietMs`,
// or `maxDelayMs` after the first unflushed event, whichever is first, so a constant stream of
// events still gets flushed regularly.
import type { Clock, TimerHandle } from './clock.ts';

export class Coalescer {
  private firstAt: number | undefined;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly quietMs: number,
    private readonly maxDelayMs: number,
    private readonly flush: () => void,
  ) {
    if (!(quietMs >= 0)) throw new Error(`quietMs: must be >= 0 (got ${quietMs})`);
    if (!(maxDelayMs >= quietMs)) throw new Error(`maxDelayMs: must be >= quietMs (got ${maxDelayMs} < ${quietMs})`);
  }

  /** Whether a flush is scheduled. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** An event arrived: (re)schedule the flush. */
  poke(): void {
    const now = this.clock.now();
    this.firstAt ??= now;
    const wait = Math.max(0, Math.min(this.quietMs, this.firstAt + this.maxDelayMs - now));
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => this.fire(), wait);
  }

  /** Flushes now if anything is pending. */
  flushNow(): void {
    if (this.timer === undefined) return;
    this.clock.clearTimeout(this.timer);
    this.fire();
  }

  cancel(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.firstAt = undefined;
  }

  private fire(): void {
    this.timer = undefined;
    this.firstAt = undefined;
    this.flush();
  }
}
