import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { countPatientsByIdentifier, type PatientIdentity } from '../fhir/patient.js';
import type { Hl7Message } from '../hl7/message.js';
import type { WorkMessage } from '../store/message-types.js';
import {
  fhirCall,
  patientIdentitiesOf,
  planResults,
  postTransaction,
  type FhirWriterDependencies,
  type PatientCounts,
} from './fhir-writer.js';
import {
  outcomeOfError,
  prepareStoredMessage,
  processStoredMessage,
  writeOptionsOf,
  type AttemptOutcome,
} from './process-stored.js';

/** A message of the batch with its planned transaction. */
interface Planned {
  index: number;
  document: WorkMessage;
  bundle: Bundle;
}

/**
 * Counts the patients of every parsed message with one search.
 * @returns The counts, or an empty map when the search failed, so each message searches on its own
 *   and reports its own error.
 */
async function countBatchPatients(
  deps: FhirWriterDependencies,
  messages: Hl7Message[]
): Promise<PatientCounts> {
  const identities: PatientIdentity[] = [];
  for (const message of messages) {
    try {
      identities.push(...patientIdentitiesOf(deps, message));
    } catch {
      // Planning the message reports its PID problem.
    }
  }
  try {
    return await fhirCall(deps, 'the patient search', () => countPatientsByIdentifier(deps.fhir, identities));
  } catch {
    return new Map();
  }
}

/**
 * Runs one processing attempt of several stored messages of different patients, writing their results in
 * one FHIR transaction: the server commits them together and the listener pays one request, one patient
 * search and one commit instead of one each. A message that cannot be mapped gets its own outcome and is
 * left out. When the combined transaction fails with a server or network error, every message gets that
 * transient outcome. When it is rejected, each message is posted on its own, so one bad message does not
 * fail the others.
 * @returns One outcome per document, in order. An unexpected error becomes a transient outcome of every
 *   message, so it never throws.
 */
export async function processStoredBatch(
  deps: FhirWriterDependencies,
  documents: WorkMessage[]
): Promise<AttemptOutcome[]> {
  const [single] = documents;
  if (documents.length === 1 && single !== undefined) {
    return [await processStoredMessage(deps, single)];
  }
  try {
    return await processTogether(deps, documents);
  } catch (err) {
    // Each step classifies its own errors, so this is a bug; every message is retried.
    deps.logger.error({ err, messages: documents.length }, 'Unexpected error while processing a batch');
    const error = err instanceof Error ? err.message : String(err);
    return documents.map(() => ({ kind: 'transient', error }));
  }
}

async function processTogether(
  deps: FhirWriterDependencies,
  documents: WorkMessage[]
): Promise<AttemptOutcome[]> {
  const outcomes: (AttemptOutcome | undefined)[] = documents.map(() => undefined);
  const parsed: { index: number; document: WorkMessage; message: Hl7Message }[] = [];
  documents.forEach((document, index) => {
    const prepared = prepareStoredMessage(document, deps.logger);
    if (prepared.kind === 'finished') {
      outcomes[index] = prepared.outcome;
    } else {
      parsed.push({ index, document, message: prepared.message });
    }
  });

  const patientCounts = await countBatchPatients(
    deps,
    parsed.map((entry) => entry.message)
  );
  const planned: Planned[] = [];
  for (const { index, document, message } of parsed) {
    try {
      const bundle = await planResults(deps, message, document.receivedAt, {
        ...writeOptionsOf(document),
        patientCounts,
      });
      if ((bundle.entry ?? []).length === 0) {
        outcomes[index] = { kind: 'processed', resourceIds: [] };
      } else {
        planned.push({ index, document, bundle });
      }
    } catch (err) {
      outcomes[index] = outcomeOfError(deps, document, err);
    }
  }

  if (planned.length > 0) {
    await postPlanned(deps, planned, outcomes);
  }
  return outcomes.map(
    (outcome) =>
      outcome ?? { kind: 'transient', error: 'Processing ended without an outcome for this message' }
  );
}

/** A combined transaction and, per planned message, the positions of its entries in it. */
interface Combined {
  bundle: Bundle;
  positions: number[][];
}

/**
 * Combines the planned transactions into one. HAPI FHIR merges identical conditional creates of one
 * transaction into one response entry (every message carries the model card's), so those are kept once
 * here and references to a dropped copy point to the kept one. The response then has one entry per
 * request entry, in request order.
 */
function combine(planned: Planned[]): Combined {
  const entries: BundleEntry[] = [];
  const positions: number[][] = [];
  const byCondition = new Map<string, { index: number; fullUrl: string | undefined }>();
  for (const { bundle } of planned) {
    const renamed = new Map<string, string>();
    const own: number[] = [];
    const added: BundleEntry[] = [];
    for (const entry of bundle.entry ?? []) {
      const condition =
        entry.request?.method === 'POST' && entry.request.ifNoneExist !== undefined
          ? `${entry.request.url}?${entry.request.ifNoneExist}`
          : undefined;
      const kept = condition === undefined ? undefined : byCondition.get(condition);
      if (kept !== undefined) {
        if (entry.fullUrl !== undefined && kept.fullUrl !== undefined) {
          renamed.set(entry.fullUrl, kept.fullUrl);
        }
        own.push(kept.index);
        continue;
      }
      const index = entries.length + added.length;
      own.push(index);
      if (condition !== undefined) {
        byCondition.set(condition, { index, fullUrl: entry.fullUrl });
      }
      added.push(entry);
    }
    entries.push(...renamePlaceholders(added, renamed));
    positions.push(own);
  }
  return { bundle: { resourceType: 'Bundle', type: 'transaction', entry: entries }, positions };
}

/** Replaces references to dropped entries' placeholders with the kept entries' ones. */
function renamePlaceholders(entries: BundleEntry[], renamed: Map<string, string>): BundleEntry[] {
  if (renamed.size === 0) {
    return entries;
  }
  // Placeholders are random `urn:uuid:` values, so replacing them as whole JSON strings is exact.
  let json = JSON.stringify(entries);
  for (const [from, to] of renamed) {
    json = json.split(JSON.stringify(from)).join(JSON.stringify(to));
  }
  return JSON.parse(json) as BundleEntry[];
}

/** Posts the planned messages in one transaction, or one by one after a rejection, and fills their outcomes. */
async function postPlanned(
  deps: FhirWriterDependencies,
  planned: Planned[],
  outcomes: (AttemptOutcome | undefined)[]
): Promise<void> {
  const { bundle, positions } = combine(planned);
  try {
    const ids = await postTransaction(deps, bundle);
    if (ids.length === (bundle.entry ?? []).length) {
      planned.forEach(({ index }, message) => {
        const resourceIds = (positions[message] ?? []).map((position) => ids[position] ?? '');
        outcomes[index] = {
          kind: 'processed',
          resourceIds: [...new Set(resourceIds.filter((id) => id !== ''))],
        };
      });
      return;
    }
    // The writes are committed, and posting each message again matches them, which reports its ids.
    deps.logger.warn(
      { requestEntries: (bundle.entry ?? []).length, responseEntries: ids.length },
      'Combined transaction response does not match its request; posting its messages one by one'
    );
  } catch (err) {
    const [first] = planned;
    const outcome = first === undefined ? undefined : outcomeOfError(deps, first.document, err);
    if (outcome?.kind === 'transient') {
      for (const { index } of planned) {
        outcomes[index] = outcome;
      }
      return;
    }
    deps.logger.warn(
      { messages: planned.length },
      'FHIR server rejected a combined transaction; posting its messages one by one'
    );
  }

  for (const { index, document, bundle: own } of planned) {
    try {
      outcomes[index] = {
        kind: 'processed',
        resourceIds: (await postTransaction(deps, own)).filter((id) => id !== ''),
      };
    } catch (err) {
      outcomes[index] = outcomeOfError(deps, document, err);
    }
  }
}
