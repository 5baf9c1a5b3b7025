// BPF_MAP_TYPE_RINGBUF readers: records delivered on the event-loop thread.
import { native } from './addon.ts';
import type { BpfMap } from './map.ts';

/** The addon's ring buffer reader (native/src/ringbuf.cc). */
export interface RawRingBuffer {
  start(): void;
  consume(): number;
  ref(): void;
  unref(): void;
  close(): void;
}

export interface RingBufferOptions {
  /** Deliver records from the event loop right away (default true); else call consume(). */
  start?: boolean;
  /** Whether a started reader keeps the process alive (default true), as in Timer.ref(). */
  ref?: boolean;
  /**
   * Also deliver what is waiting every `pollMs` milliseconds while started (default: only when
   * the kernel wakes the reader). meshc's hooks commit records without a wakeup until a batch
   * waits (BPF_RB_NO_WAKEUP, bpf/meshc_helpers.h), so their reader polls.
   */
  pollMs?: number;
  /**
   * Hand the records of one drain to JS in one Buffer (default false): `onRecord` still gets each
   * record, as a view into that Buffer, but the addon crosses into JS and copies once per drain,
   * not once per record. A callback that throws in this mode loses the rest of that drain's
   * records (they were taken from the ring); in the default mode they stay in the ring.
   */
  batch?: boolean;
}

/**
 * Reads a BPF_MAP_TYPE_RINGBUF map. Records reach the callback on the event-loop thread, one
 * Buffer each (a copy), in commit order; the loop is never blocked waiting for them. A callback
 * that throws raises an uncaught exception (started mode) or rethrows from consume().
 */
export class RingBuffer {
  readonly #raw: RawRingBuffer;
  readonly #pollMs: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #ref = true;
  #closed = false;

  /** @internal Created by openRingBuffer(). */
  constructor(raw: RawRingBuffer, pollMs?: number) {
    this.#raw = raw;
    this.#pollMs = pollMs;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts delivery from the event loop (idempotent). */
  start(): void {
    this.#raw.start();
    if (this.#pollMs !== undefined && !this.#timer && !this.#closed) {
      this.#timer = setInterval(() => {
        if (!this.#closed) this.#raw.consume();
      }, this.#pollMs);
      if (!this.#ref) this.#timer.unref();
    }
  }

  /** Delivers the records available now, synchronously; returns how many. */
  consume(): number {
    return this.#raw.consume();
  }

  ref(): void {
    this.#raw.ref();
    this.#ref = true;
    this.#timer?.ref();
  }

  unref(): void {
    this.#raw.unref();
    this.#ref = false;
    this.#timer?.unref();
  }

  /** Stops delivery and frees the reader; safe to call from inside the callback. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#raw.close();
    this.#closed = true;
  }
}

export function openRingBuffer(map: BpfMap, onRecord: (record: Buffer) => void, opts: RingBufferOptions = {}): RingBuffer {
  if (map.closed) throw new TypeError(`map ${map.name}: ring buffer: the map handle is closed`);
  if (typeof onRecord !== 'function') throw new TypeError(`map ${map.name}: ring buffer: onRecord must be a function`);
  let reader: RingBuffer | undefined;
  const deliver = opts.batch
    ? (records: Buffer) => {
        // As in the default mode, no record is delivered once the callback closed the reader.
        for (let at = 0; at < records.length && !reader?.closed; ) {
          const size = records.readUInt32LE(at);
          onRecord(records.subarray(at + 4, at + 4 + size));
          at += 4 + size;
        }
      }
    : onRecord;
  const raw = new (native().RingBufferHandle)(map.fd, map.name, deliver, opts.batch === true);
  if (opts.pollMs !== undefined && !(Number.isFinite(opts.pollMs) && opts.pollMs > 0)) {
    throw new RangeError(`map ${map.name}: ring buffer: pollMs must be a positive number of milliseconds, got ${opts.pollMs}`);
  }
  reader = new RingBuffer(raw, opts.pollMs);
  if (opts.ref === false) reader.unref();
  if (opts.start !== false) reader.start();
  return reader;
}
