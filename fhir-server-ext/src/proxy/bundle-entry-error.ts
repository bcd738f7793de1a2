/** One entry of a client's transaction or batch that failed the checks. */
export interface RejectedEntry {
  /** Position of the entry in `Bundle.entry`, from 0. */
  index: number;
  /** 403 when the token's scopes do not allow the entry, 400 when the entry is malformed. */
  status: 400 | 403;
  /** Names the entry and what to change. */
  message: string;
}

/**
 * Thrown when entries of a client's transaction or batch fail the scope or format checks. Nothing of
 * the Bundle was forwarded then. It is sent as one OperationOutcome with an issue per rejected entry,
 * whose expression is `Bundle.entry[<index>]`, with status 403 when any entry is out of scope, else 400.
 */
export class BundleEntryError extends Error {
  readonly entries: RejectedEntry[];

  constructor(entries: RejectedEntry[]) {
    super(entries.map((entry) => entry.message).join(' '));
    this.name = 'BundleEntryError';
    this.entries = entries;
  }

  /** The HTTP status of the whole response. */
  get status(): 400 | 403 {
    return this.entries.some((entry) => entry.status === 403) ? 403 : 400;
  }
}
