/** Width of one bucket of the accept-rate window. */
const BUCKET_MS = 100;

/** Number of buckets in the window, which spans the last second. */
const BUCKET_COUNT = 10;

/**
 * Rest after each FHIR transaction while processing yields, as a multiple of the transaction's duration.
 * At 3, processing (with the FHIR server and database work it causes) runs about a quarter of the time.
 * On 2 CPUs shared with HAPI and FerretDB, a factor of 1 raised the durable accept from 1,460 to 2,000
 * messages/s, and 3 raised it to 2,400 (bench/results/mllp-throughput.md).
 * NOTE: this factor and the default threshold were measured only on that machine. With HAPI on its own
 * CPUs, or on MongoDB, other values may suit better.
 */
export const REST_FACTOR = 3;

/**
 * Maximum number of messages in one FHIR transaction while processing yields. Short transactions keep
 * each stretch of processing short, so fewer ACKs wait behind it.
 *
 * On the machine above, the p99 ACK at 500 messages/s was 13.3 to 24.4 ms with this cap (8 readings)
 * and 12.4 to 56.4 ms with batches of 10 (12 readings): the worst readings went, the misses did not.
 * Batches of 1 were no better and slowed the results during a burst.
 */
export const YIELDING_BATCH_SIZE = 3;

/**
 * Gives the accept path priority over processing while messages arrive fast, such as when an interface
 * engine sends the backlog it queued during an outage. The sender waits for each ACK and retransmits
 * after its timeout, while processing into FHIR can catch up later from the durable queue. So while this
 * listener process accepts at least `thresholdPerSecond` messages in enhanced or immediate mode per
 * second, processing runs one FHIR transaction of at most {@link YIELDING_BATCH_SIZE} messages at a time
 * and rests {@link REST_FACTOR} times as long as each took. It never stops: a sustained high rate slows
 * processing, and the queue depth metric shows the backlog.
 *
 * Original-mode messages are not counted, because their ACK waits for processing. A burst in another
 * mode still delays their ACKs.
 */
export class AcceptPriority {
  private readonly counts = new Array<number>(BUCKET_COUNT).fill(0);
  /** Absolute index (time / BUCKET_MS) of the newest bucket. */
  private newestBucket = 0;
  private restUntil = 0;
  private yielding = false;

  /**
   * @param thresholdPerSecond - Accept rate from which processing yields; 0 turns yielding off.
   * @param onChange - Called when processing starts or stops yielding.
   */
  constructor(
    private readonly thresholdPerSecond: number,
    private readonly onChange: (yielding: boolean) => void = () => undefined
  ) {
    if (!Number.isInteger(thresholdPerSecond) || thresholdPerSecond < 0) {
      throw new RangeError(
        `Invalid thresholdPerSecond ${thresholdPerSecond}: expected an integer of 0 or more`
      );
    }
  }

  /** Counts one message this listener accepted at `now` (milliseconds since the epoch). */
  noteAccepted(now: number): void {
    this.advance(now);
    const index = this.newestBucket % BUCKET_COUNT;
    this.counts[index] = (this.counts[index] ?? 0) + 1;
  }

  /** Messages accepted over the last second, including the bucket in progress. */
  acceptedPerSecond(now: number): number {
    this.advance(now);
    return this.counts.reduce((sum, count) => sum + count, 0);
  }

  /**
   * Returns how many FHIR transactions processing may have running at `now`: `concurrency` when it does
   * not yield, 1 while it yields, and 0 while it rests after a transaction.
   */
  allowedConcurrency(concurrency: number, now: number): number {
    if (!this.updateYielding(now)) {
      return concurrency;
    }
    return now < this.restUntil ? 0 : 1;
  }

  /** Returns how many messages one FHIR transaction may hold at `now`, which is fewer while yielding. */
  allowedBatchSize(batchSize: number, now: number): number {
    return this.updateYielding(now) ? Math.min(batchSize, YIELDING_BATCH_SIZE) : batchSize;
  }

  /**
   * Records a FHIR transaction that ended at `now` after `durationMs`. While yielding, processing then
   * rests {@link REST_FACTOR} times as long.
   */
  noteTransaction(durationMs: number, now: number): void {
    if (this.updateYielding(now)) {
      this.restUntil = Math.max(this.restUntil, now + durationMs * REST_FACTOR);
    }
  }

  /** Milliseconds until a rest ends, or undefined when processing is not resting. */
  restRemainingMs(now: number): number | undefined {
    return this.updateYielding(now) && now < this.restUntil ? this.restUntil - now : undefined;
  }

  /** Updates the yielding state from the accept rate at `now`, reports a change and returns the state. */
  private updateYielding(now: number): boolean {
    const yielding = this.thresholdPerSecond > 0 && this.acceptedPerSecond(now) >= this.thresholdPerSecond;
    if (yielding !== this.yielding) {
      this.yielding = yielding;
      if (!yielding) {
        this.restUntil = 0;
      }
      this.onChange(yielding);
    }
    return yielding;
  }

  /** Moves the window to `now`, emptying the buckets that fell out of it. */
  private advance(now: number): void {
    const bucket = Math.floor(now / BUCKET_MS);
    if (bucket <= this.newestBucket) {
      return;
    }
    const expired = Math.min(BUCKET_COUNT, bucket - this.newestBucket);
    for (let step = 1; step <= expired; step += 1) {
      this.counts[(this.newestBucket + step) % BUCKET_COUNT] = 0;
    }
    this.newestBucket = bucket;
  }
}
