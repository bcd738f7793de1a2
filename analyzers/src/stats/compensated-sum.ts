/**
 * Neumaier's compensated sum. numpy sums pairwise, with an error of order log2(n)·ε, but a plain running sum
 * of a million terms can drift by n·ε ≈ 1e-10 relative, so the long sums of the drift tests carry the lost
 * low-order bits.
 */
export class CompensatedSum {
  private sum = 0;
  private compensation = 0;

  /** Adds one term. */
  add(value: number): void {
    const next = this.sum + value;
    if (Math.abs(this.sum) >= Math.abs(value)) {
      this.compensation += this.sum - next + value;
    } else {
      this.compensation += value - next + this.sum;
    }
    this.sum = next;
  }

  /** Returns the sum of the terms added so far. */
  total(): number {
    return this.sum + this.compensation;
  }
}
