import { InvalidResultError } from '../invalid-result-error.js';

// A FHIR R4 dateTime with at least a full date. R4 requires a time zone offset whenever a time is given.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Computes the window key of a result: the UTC day of its effectiveDateTime.
 * @param observationId - For the error message.
 * @param effective - Observation.effectiveDateTime.
 * @returns `YYYY-MM-DD`.
 * @throws InvalidResultError when the date is missing or has less than day precision.
 */
export function windowOf(observationId: string, effective: string | undefined): string {
  if (effective === undefined || !DATE_TIME.test(effective)) {
    throw new InvalidResultError(
      `Observation/${observationId} effectiveDateTime is ${String(effective)}; expected a FHIR dateTime with at least a full date.`
    );
  }

  const time = new Date(effective);
  if (Number.isNaN(time.getTime())) {
    throw new InvalidResultError(
      `Observation/${observationId} effectiveDateTime ${effective} is not a valid date.`
    );
  }
  return time.toISOString().slice(0, 10);
}

/** Calendar period of a period window, as pandas' offset aliases `h`, `D`, `W` and `M`. */
export type WindowPeriod = 'hour' | 'day' | 'week' | 'month';

/** One window of results: its stable key and the half-open UTC time range `[start, end)` it covers. */
export interface PeriodWindow {
  key: string;
  start: Date;
  end: Date;
}

const DAY_MS = 24 * 3600 * 1000;

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

function dayKey(time: Date): string {
  return time.toISOString().slice(0, 10);
}

/**
 * Computes the period window of a UTC time. Keys equal pandas' `str(Period)` for the same offset, as NannyML's
 * PeriodBasedChunker prints them: `2026-03-14 09:00` (hour), `2026-03-14` (day), `2026-03-09/2026-03-15`
 * (week, Monday to Sunday) and `2026-03` (month).
 * @param time - A result's effective time.
 * @param period - Window length.
 * @returns Key and range.
 */
export function periodWindowOf(time: Date, period: WindowPeriod): PeriodWindow {
  const year = time.getUTCFullYear();
  const month = time.getUTCMonth();
  const dayStart = Date.UTC(year, month, time.getUTCDate());

  switch (period) {
    case 'hour': {
      const start = new Date(dayStart + time.getUTCHours() * 3600 * 1000);
      return {
        key: `${dayKey(start)} ${pad(start.getUTCHours())}:00`,
        start,
        end: new Date(start.getTime() + 3600 * 1000),
      };
    }
    case 'day':
      return { key: dayKey(new Date(dayStart)), start: new Date(dayStart), end: new Date(dayStart + DAY_MS) };
    case 'week': {
      // getUTCDay() is 0 on Sunday; pandas' `W` weeks end on Sunday, so they start on Monday.
      const daysSinceMonday = (time.getUTCDay() + 6) % 7;
      const start = new Date(dayStart - daysSinceMonday * DAY_MS);
      const end = new Date(start.getTime() + 7 * DAY_MS);
      return { key: `${dayKey(start)}/${dayKey(new Date(end.getTime() - DAY_MS))}`, start, end };
    }
    default:
      return {
        key: `${String(year)}-${pad(month + 1)}`,
        start: new Date(Date.UTC(year, month, 1)),
        end: new Date(Date.UTC(year, month + 1, 1)),
      };
  }
}

/**
 * Lists the period windows that a time range touches, in time order.
 * @param from - Start of the range (inclusive).
 * @param to - End of the range (exclusive).
 * @param period - Window length.
 */
export function periodWindowsBetween(from: Date, to: Date, period: WindowPeriod): PeriodWindow[] {
  const windows: PeriodWindow[] = [];
  let window = periodWindowOf(from, period);
  while (window.start < to) {
    windows.push(window);
    window = periodWindowOf(window.end, period);
  }
  return windows;
}

/** Handling of the rows left after the last full chunk by a size or count chunker, as in NannyML. */
export type IncompleteChunk = 'keep' | 'drop' | 'append';

/** One chunk of rows by position: key `[first:last]` with inclusive row indices, as NannyML prints it. */
export interface RowChunk<T> {
  key: string;
  firstIndex: number;
  lastIndex: number;
  rows: T[];
}

/**
 * Splits rows (sorted by effective time, then id) into chunks of `size` rows, as NannyML's SizeBasedChunker
 * does. Keys are stable while rows are only appended; a result that arrives late with an earlier time shifts
 * the chunks after it.
 * @param rows - Sorted rows.
 * @param size - Rows per chunk, at least 1.
 * @param incomplete - Handling of the remainder: its own chunk (`keep`, default), dropped, or appended to the
 *   last full chunk.
 * @throws RangeError when `size` is not a positive integer.
 */
export function chunkBySize<T>(
  rows: readonly T[],
  size: number,
  incomplete: IncompleteChunk = 'keep'
): RowChunk<T>[] {
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`Invalid chunk size ${String(size)}: expected a whole number of rows, at least 1.`);
  }

  const chunks: RowChunk<T>[] = [];
  const fullChunks = Math.floor(rows.length / size);
  for (let index = 0; index < fullChunks; index += 1) {
    chunks.push(rowChunk(rows, index * size, (index + 1) * size - 1));
  }

  const remainder = rows.length % size;
  if (remainder === 0 || incomplete === 'drop') {
    return chunks;
  }
  const last = chunks.at(-1);
  if (incomplete === 'append' && last !== undefined) {
    chunks[chunks.length - 1] = rowChunk(rows, last.firstIndex, rows.length - 1);
    return chunks;
  }
  chunks.push(rowChunk(rows, fullChunks * size, rows.length - 1));
  return chunks;
}

/**
 * Splits rows into `count` chunks as NannyML's CountBasedChunker does: chunk size ⌊n / count⌋, then
 * {@link chunkBySize}, so `keep` can produce one extra, smaller chunk.
 * @throws RangeError when `count` is not a positive integer or exceeds the number of rows.
 */
export function chunkByCount<T>(
  rows: readonly T[],
  count: number,
  incomplete: IncompleteChunk = 'keep'
): RowChunk<T>[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(
      `Invalid chunk count ${String(count)}: expected a whole number of chunks, at least 1.`
    );
  }
  if (rows.length === 0) {
    return [];
  }
  if (count > rows.length) {
    throw new RangeError(
      `Cannot split ${String(rows.length)} rows into ${String(count)} chunks; request at most ${String(rows.length)}.`
    );
  }
  return chunkBySize(rows, Math.floor(rows.length / count), incomplete);
}

function rowChunk<T>(rows: readonly T[], firstIndex: number, lastIndex: number): RowChunk<T> {
  return {
    key: `[${String(firstIndex)}:${String(lastIndex)}]`,
    firstIndex,
    lastIndex,
    rows: rows.slice(firstIndex, lastIndex + 1),
  };
}
