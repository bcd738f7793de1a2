/**
 * Loads a folder of Synthea R4 transaction Bundles into the FHIR server, one Bundle per transaction.
 * Entries are rewritten into conditional creates or PUTs (see rewrite.ts), so re-running the load
 * creates nothing new.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { loadConfig } from '@monitormed/common';
import { BundleFormatError } from './bundle-error.js';
import { FhirHttpError } from './fhir-http-error.js';
import { describeErrorBody, fhirRequest } from './fhir-http.js';
import { assertTransactionBundle, rewriteForIdempotentLoad } from './rewrite.js';

/** Synthea writes the shared Organizations and Practitioners into these files; patients refer to them. */
const INFORMATION_PREFIXES = ['hospitalInformation', 'practitionerInformation'] as const;

/** Options of {@link loadBundles}. */
export interface LoadBundlesOptions {
  /** Folder with one `.json` Bundle per file, such as Synthea's `output/fhir`. */
  folder: string;
  /** FHIR base URL; defaults to the configured `fhirBaseUrl`. */
  fhirBaseUrl?: string;
  /** Maximum number of patient bundles to load; the hospital and practitioner bundles always load. */
  limit?: number;
  /** Time allowed for one transaction. A 3 MB bundle of about 1,000 entries can take minutes on H2. */
  timeoutMs?: number;
  /** Called after each file with the running totals, for a progress display. */
  onProgress?: (progress: LoadProgress) => void;
}

/** A file that could not be loaded, with the reason. */
export interface LoadFailure {
  file: string;
  /** HTTP status of the failed request, 0 when the file was not sent or no response arrived. */
  status: number;
  /** Failure reason, from the OperationOutcome when the server sent one. */
  message: string;
}

/** Totals of a load. */
export interface LoadSummary {
  /** Bundle files found and attempted. */
  bundles: number;
  /** Bundles the server accepted without any failed entry. */
  bundlesLoaded: number;
  /** Entries the server created (HTTP 201). */
  created: number;
  /** Entries the server already had: a conditional-create match or a PUT of an existing id (HTTP 200). */
  existing: number;
  /** Batch entries that failed on their own (hospital and practitioner files are batches, not transactions). */
  failedEntries: number;
  failures: LoadFailure[];
  durationMs: number;
}

/** Running totals reported after each file. */
export interface LoadProgress extends LoadSummary {
  /** Files processed so far. */
  done: number;
  /** File just processed. */
  file: string;
}

/**
 * Orders bundle files so that hospital, then practitioner information loads before the patients.
 * @param files - File names.
 * @returns The files sorted: information files first, then patients by name.
 */
export function orderBundleFiles(files: string[]): string[] {
  const rank = (file: string): number => {
    const index = INFORMATION_PREFIXES.findIndex((prefix) => file.startsWith(prefix));
    return index === -1 ? INFORMATION_PREFIXES.length : index;
  };
  return [...files].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

interface EntryCounts {
  created: number;
  existing: number;
  failed: number;
  /** Outcome text of the first failed batch entry. */
  firstFailure?: string;
}

function countResponseEntries(entries: BundleEntry[]): EntryCounts {
  const counts: EntryCounts = { created: 0, existing: 0, failed: 0 };
  for (const entry of entries) {
    const status = Number.parseInt(entry.response?.status ?? '', 10);
    if (status === 201) {
      counts.created++;
    } else if (status >= 200 && status < 300) {
      counts.existing++;
    } else {
      counts.failed++;
      counts.firstFailure ??= `HTTP ${String(status)}: ${describeErrorBody(entry.response?.outcome)}`;
    }
  }
  return counts;
}

async function readBundle(path: string): Promise<Bundle> {
  const text = await readFile(path, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BundleFormatError(`Invalid JSON: ${(err as Error).message}`);
  }
  return assertTransactionBundle(parsed);
}

/** Sends one bundle file and adds its counts, or its failure, to the summary. */
async function loadOne(
  path: string,
  baseUrl: string,
  timeoutMs: number,
  summary: LoadSummary
): Promise<void> {
  const file = basename(path);
  let bundle: Bundle;
  try {
    bundle = rewriteForIdempotentLoad(await readBundle(path)).bundle;
  } catch (err) {
    summary.failures.push({ file, status: 0, message: (err as Error).message });
    return;
  }

  try {
    // return=minimal keeps the response to status lines, so a 3 MB bundle does not come back in full.
    const response = await fhirRequest(baseUrl, {
      method: 'POST',
      path: '',
      body: bundle,
      headers: { prefer: 'return=minimal' },
      timeoutMs,
    });
    if (response.status < 200 || response.status > 299) {
      summary.failures.push({ file, status: response.status, message: describeErrorBody(response.body) });
      return;
    }

    const counts = countResponseEntries((response.body as Bundle | undefined)?.entry ?? []);
    summary.created += counts.created;
    summary.existing += counts.existing;
    summary.failedEntries += counts.failed;
    if (counts.failed > 0) {
      const message = `${String(counts.failed)} of ${String(bundle.entry?.length ?? 0)} entries failed; first: ${counts.firstFailure ?? ''}`;
      summary.failures.push({ file, status: response.status, message });
      return;
    }
    summary.bundlesLoaded++;
  } catch (err) {
    // Without a server every further file would fail the same way, so the load stops here.
    if (!(err instanceof FhirHttpError) || err.unreachable) {
      throw err;
    }
    summary.failures.push({ file, status: err.status, message: err.message });
  }
}

/**
 * Loads every `.json` Bundle of a folder into the FHIR server. A bad file is recorded as a failure and
 * the load goes on with the next one.
 * @param options - Folder, server, limit, timeout and progress callback.
 * @returns Counts of bundles and entries, and the failures with file name and server message.
 * @throws Error when the folder cannot be read; FhirHttpError when the server cannot be reached.
 */
export async function loadBundles(options: LoadBundlesOptions): Promise<LoadSummary> {
  const startedAt = Date.now();
  const baseUrl = options.fhirBaseUrl ?? loadConfig().fhirBaseUrl;
  const timeoutMs = options.timeoutMs ?? 600_000;

  const allFiles = orderBundleFiles((await readdir(options.folder)).filter((f) => f.endsWith('.json')));
  const informationFiles = allFiles.filter((f) => INFORMATION_PREFIXES.some((p) => f.startsWith(p)));
  const patientFiles = allFiles.filter((f) => !informationFiles.includes(f));
  const files = [...informationFiles, ...patientFiles.slice(0, options.limit ?? patientFiles.length)];

  const summary: LoadSummary = {
    bundles: files.length,
    bundlesLoaded: 0,
    created: 0,
    existing: 0,
    failedEntries: 0,
    failures: [],
    durationMs: 0,
  };

  // Sequential on purpose: patient bundles share Organizations and Practitioners, and two concurrent
  // conditional creates of the same one could both miss the match and create duplicates.
  for (const [index, file] of files.entries()) {
    await loadOne(join(options.folder, file), baseUrl, timeoutMs, summary);
    summary.durationMs = Date.now() - startedAt;
    options.onProgress?.({ ...summary, failures: [...summary.failures], done: index + 1, file });
  }

  summary.durationMs = Date.now() - startedAt;
  return summary;
}
