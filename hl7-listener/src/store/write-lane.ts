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
 * a write waits only for the write ahead of it, and accepts go before processing.
 *
 * NOTE: Not measured on MongoDB, which runs concurrent writes side by side. The lane keeps one write of
 * this listener in flight there too, and its writes are group commits and small batches.
 */
export class WriteLane {
  private busy = false;
  private readonly waiting: Record<WriteKind, (() => void)[]> = { accept: [], processing: [] };

  /** Number of writes waiting for the lane, by kind. */
  get queued(): Record<WriteKind, number> {
    return { accept: this.waiting.accept.length, processing: this.waiting.processing.length };
  }

  /**
   * Runs `write` when the lane is free: waiting accept writes go first, then processing writes, each
   * kind in the order it arrived. `write` must not call `run` itself, because it would wait for its
   * own end.
   */
  async run<T>(kind: WriteKind, write: () => Promise<T>): Promise<T> {
    if (this.busy) {
      await new Promise<void>((resolve) => this.waiting[kind].push(resolve));
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
    const accept = this.waiting.accept.shift();
    if (accept !== undefined) {
      accept();
      return;
    }
    if (this.waiting.processing.length === 0) {
      this.busy = false;
      return;
    }

    // An accept writes its queue entries and then its records. Waiting one turn lets the code that
    // awaited the first write queue the second, so a processing write does not come between them.
    setImmediate(() => {
      const next = this.waiting.accept.shift() ?? this.waiting.processing.shift();
      if (next === undefined) {
        this.busy = false;
      } else {
        next();
      }
    });
  }
}
