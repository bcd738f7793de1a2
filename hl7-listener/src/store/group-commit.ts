/** Result of one item of a group write: its value, or the error that item alone failed with. */
export type ItemResult<Result> = { ok: true; value: Result } | { ok: false; error: unknown };

interface Pending<Item, Result> {
  item: Item;
  resolve: (value: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: items submitted while a write is in flight are written together by the next write. A
 * store that pays per transaction (FerretDB on SQLite commits every insert command in its own
 * transaction) so writes many items for the price of one. Every caller still waits for its own item, and
 * a failure is reported to the items it concerns.
 *
 * The first item after an idle period waits one `setImmediate` turn, so frames read in the same I/O
 * phase share its write; after that a batch is whatever arrived during the previous write.
 */
export class GroupCommitter<Item, Result> {
  private readonly pending: Pending<Item, Result>[] = [];
  private writing = false;
  private scheduled = false;

  /**
   * @param write - Writes a batch and returns one result per item, in order; a throw fails the whole batch.
   * @param maxBatch - Largest number of items per write.
   */
  constructor(
    private readonly write: (items: Item[]) => Promise<ItemResult<Result>[]>,
    private readonly maxBatch: number
  ) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new RangeError(`Invalid maxBatch ${maxBatch}: expected a positive integer`);
    }
  }

  /** Number of items waiting for the next write. */
  get queued(): number {
    return this.pending.length;
  }

  /**
   * Queues an item for the next write.
   * @returns Its result once the write that contains it has finished.
   */
  submit(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.writing || this.scheduled) {
      return;
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.writing || this.pending.length === 0) {
      return;
    }
    this.writing = true;
    const batch = this.pending.splice(0, this.maxBatch);
    try {
      const results = await this.write(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => {
        const result = results[index];
        if (result === undefined) {
          entry.reject(new Error(`Group write returned no result for item ${index}`));
        } else if (result.ok) {
          entry.resolve(result.value);
        } else {
          entry.reject(result.error);
        }
      });
    } catch (err) {
      for (const entry of batch) {
        entry.reject(err);
      }
    } finally {
      this.writing = false;
    }
    // Items that arrived during the write go out at once, as the next group.
    if (this.pending.length > 0) {
      void this.flush();
    }
  }
}
