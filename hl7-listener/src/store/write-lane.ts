/** Kind of a store write: an accept, which a sender is waiting on, or processing, which can wait. */
export type WriteKind = 'accept' | 'processing';

/**
 * Runs one listener's writes to the message store one at a time, accept writes first.
 *
 * FerretDB on SQLite has a single writer per database, and a write that finds the lock taken does not
 * queue for it. SQLite's busy handler (`sqliteDefaultBusyCallback`, in the modernc.org/sqlite v1.32
 * build that FerretDB 1.24 uses) sleeps 1, 2, 5, 10, 15, 20, 25 ms and so on between tries. So a
 * write that lost the lock three times had slept 8 ms, and five times 33 ms. In one run of the MLLP
 * benchmark, traced with strace, FerretDB slept this way 165 times, up to 100 ms at once. Queued here,
 * a write waits only for the write ahead of it, and accepts go before processing unless a processing
 * write has waited `maxProcessingWaitMs`.
 *
 * NOTE: Not measured on MongoDB, which runs concurrent writes side by side. The lane keeps one write of
 * this listener in flight there too, and its writes are group commits and small batches.
 */
/** Default of the longest time a processing write waits while accept writes keep coming. */
export const DEFAULT_MAX_PROCESSING_WAIT_MS = 100;

interface Waiter {
  resume: () => void;
  /** `performance.now()` when the write started waiting. */
  since: number;
}

export class WriteLane {
  private busy = false;
  private readonly waiting: Record<WriteKind, Waiter[]> = { accept: [], processing: [] };

  /**
   * @param maxProcessingWaitMs - Time after which a waiting processing write goes before accept writes,
   *   so a sender that never pauses cannot stop processing.
   */
  constructor(private readonly maxProcessingWaitMs = DEFAULT_MAX_PROCESSING_WAIT_MS) {}

  /** Number of writes waiting for the lane, by kind. */
  get queued(): Record<WriteKind, number> {
    return { accept: this.waiting.accept.length, processing: this.waiting.processing.length };
  }

  /**
   * Runs `write` when the lane is free. Waiting accept writes go first, then processing writes, each
   * kind in the order it arrived, except that a processing write waiting `maxProcessingWaitMs` or more
   * goes next. `write` must not call `run` itself, because it would wait for its own end.
   */
  async run<T>(kind: WriteKind, write: () => Promise<T>): Promise<T> {
    if (this.busy) {
      await new Promise<void>((resume) => this.waiting[kind].push({ resume, since: performance.now() }));
    } else {
      this.busy = true;
    }

    try {
      return await write();
    } finally {
      this.passOn();
    }
  }

  private passOn(): void {
    const next = this.overdueProcessing() ?? this.waiting.accept.shift();
    if (next !== undefined) {
      next.resume();
      return;
    }
    if (this.waiting.processing.length === 0) {
      this.busy = false;
      return;
    }

    // An accept writes its queue entries and then its records. Waiting one turn lets the code that
    // awaited the first write queue the second, so a processing write does not come between them.
    setImmediate(() => {
      const waiter = this.waiting.accept.shift() ?? this.waiting.processing.shift();
      if (waiter === undefined) {
        this.busy = false;
      } else {
        waiter.resume();
      }
    });
  }

  private overdueProcessing(): Waiter | undefined {
    const oldest = this.waiting.processing[0];
    if (oldest === undefined || performance.now() - oldest.since < this.maxProcessingWaitMs) {
      return undefined;
    }
    return this.waiting.processing.shift();
  }
}
