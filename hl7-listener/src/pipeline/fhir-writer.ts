import { randomUUID } from 'node:crypto';
import type { Bundle } from '@medplum/fhirtypes';
import type { AiModelDefinition, FhirClient, Logger } from '@monitormed/common';
import type { ListenerConfig } from '../config.js';
import { describeFhirError } from '../fhir/fhir-error.js';
import {
  buildMinimalPatient,
  countPatients,
  patientIdentifierQuery,
  readPatientIdentity,
  type PatientIdentity,
} from '../fhir/patient.js';
import { groupResults } from '../fhir/result-groups.js';
import { buildResultTransaction, type PatientLink } from '../fhir/transaction.js';
import { ERROR_CODES, Hl7ProcessingError } from '../hl7/hl7-error.js';
import type { Hl7Message } from '../hl7/message.js';
import type { Hl7Segment } from '../hl7/segment.js';
import { resolveModelDevices } from './device-resolver.js';
import { FhirTransactionError } from './fhir-transaction-error.js';

/** Dependencies of writing a message to the FHIR server. */
export interface FhirWriterDependencies {
  fhir: FhirClient;
  models: AiModelDefinition[];
  config: Pick<
    ListenerConfig,
    | 'createMissingPatients'
    | 'nonAiResults'
    | 'facilityTimeZone'
    | 'patientIdentifierSystems'
    | 'defaultPatientIdentifierSystem'
  >;
  logger: Logger;
}

/** Runs a FHIR request, turning its failure into a FhirTransactionError with the status. */
export async function fhirCall<T>(
  deps: FhirWriterDependencies,
  what: string,
  call: () => Promise<T>
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const failure = describeFhirError(err);
    // The diagnostics may echo identifiers, so only the status is logged.
    deps.logger.warn({ status: failure.status, operation: what }, 'FHIR request failed');
    const prefix =
      failure.status === undefined
        ? `FHIR server unreachable during ${what}`
        : `FHIR server returned HTTP ${failure.status} to ${what}`;
    throw new FhirTransactionError(
      {
        ackCode: 'AE',
        errorCode: ERROR_CODES.applicationInternalError,
        text: `${prefix}: ${failure.detail}`,
      },
      failure.status
    );
  }
}

/** Patient counts already known per identifier query, from a search for a whole batch of messages. */
export type PatientCounts = Map<string, number>;

async function resolvePatients(
  deps: FhirWriterDependencies,
  pids: Hl7Segment[],
  knownCounts: PatientCounts
): Promise<Map<Hl7Segment, PatientLink>> {
  const links = new Map<Hl7Segment, PatientLink>();
  const byIdentifier = new Map<string, PatientLink>();

  for (const pid of pids) {
    const identity = readPatientIdentity(pid, deps.config);
    const key = patientIdentifierQuery(identity);
    let link = byIdentifier.get(key);
    if (link === undefined) {
      const count =
        knownCounts.get(key) ??
        (await fhirCall(deps, 'the patient search', () => countPatients(deps.fhir, identity)));
      const location = { segment: 'PID', segmentSequence: pid.occurrence, field: 3 };
      if (count > 1) {
        throw new Hl7ProcessingError({
          ackCode: 'AE',
          errorCode: ERROR_CODES.unknownKeyIdentifier,
          location,
          text: 'PID-3 patient identifier matches several patients',
        });
      }
      if (count === 1) {
        link = { reference: { reference: `Patient?${key}` } };
      } else if (deps.config.createMissingPatients) {
        // NOTE: two messages for the same new patient on different connections can race. Both searches find
        // nothing, and HAPI may then create two Patients unless it enforces unique conditional creates.
        const fullUrl = `urn:uuid:${randomUUID()}`;
        const patient = buildMinimalPatient(identity, deps.config.facilityTimeZone);
        link = {
          reference: { reference: fullUrl },
          entry: {
            fullUrl,
            resource: patient,
            request: { method: 'POST', url: 'Patient', ifNoneExist: key },
          },
        };
      } else {
        throw new Hl7ProcessingError({
          ackCode: 'AE',
          errorCode: ERROR_CODES.unknownKeyIdentifier,
          location,
          text: 'Patient not found: no Patient in the FHIR server has the PID-3 identifier. Load the Patient first, or set HL7_CREATE_MISSING_PATIENTS=true on the listener to create it.',
        });
      }
      byIdentifier.set(key, link);
    }
    links.set(pid, link);
  }
  return links;
}

/** Options of {@link writeResults} and {@link planResults}. */
export interface WriteOptions {
  /** Rewrites the transaction before it is posted, for example into conditional updates for a correction. */
  transform?: ((bundle: Bundle) => Bundle) | undefined;
  /** Patient counts from a search for several messages at once; identifiers missing here are searched one by one. */
  patientCounts?: PatientCounts;
}

/**
 * Reads the patient identities of a message's PIDs, to count them for a batch in one search.
 * @throws Hl7ProcessingError for a PID without a usable identifier.
 */
export function patientIdentitiesOf(
  deps: Pick<FhirWriterDependencies, 'config'>,
  message: Hl7Message
): PatientIdentity[] {
  const pids = [...new Set(groupResults(message.segments).map((group) => group.pid))];
  return pids.map((pid) => readPatientIdentity(pid, deps.config));
}

/**
 * Resolves the message's patients and builds its result transaction, with the model Devices replaced
 * by references to existing ones. The entries are conditional on identifiers derived from the message,
 * so writing a message twice updates the same resources instead of duplicating them.
 * @returns The transaction; it has no entries when every result was left out.
 * @throws Hl7ProcessingError for an unknown or ambiguous patient or a mapping problem.
 * @throws FhirTransactionError when a search fails.
 */
export async function planResults(
  deps: FhirWriterDependencies,
  message: Hl7Message,
  receivedAt: Date,
  options: WriteOptions = {}
): Promise<Bundle> {
  const groups = groupResults(message.segments);
  const pids = [...new Set(groups.map((group) => group.pid))];
  const patients = await resolvePatients(deps, pids, options.patientCounts ?? new Map<string, number>());
  const plan = buildResultTransaction({
    message,
    groups,
    patients,
    models: deps.models,
    nonAiResults: deps.config.nonAiResults,
    facilityTimeZone: deps.config.facilityTimeZone,
    recordedAt: receivedAt,
  });
  if ((plan.bundle.entry ?? []).length === 0) {
    return plan.bundle;
  }
  const withDevices = await fhirCall(deps, 'the model Device lookup', () =>
    resolveModelDevices(deps.fhir, plan.bundle, deps.logger)
  );
  deps.logger.debug(
    {
      controlId: message.header.controlId,
      observations: plan.observationCount,
      aiObservations: plan.aiObservationCount,
    },
    'Transaction planned'
  );
  return options.transform === undefined ? withDevices : options.transform(withDevices);
}

/**
 * Posts a transaction.
 * @returns The resource ids of the response entries, in order (`''` for an entry without a location),
 *   such as `Observation/12`.
 * @throws FhirTransactionError when the FHIR server cannot be reached or rejects the transaction.
 */
export async function postTransaction(deps: FhirWriterDependencies, bundle: Bundle): Promise<string[]> {
  const body = bundle as unknown as Parameters<FhirClient['transaction']>[0]['body'];
  const response = (await fhirCall(deps, 'the result transaction', () =>
    deps.fhir.transaction({ body })
  )) as unknown as Bundle;
  return (response.entry ?? []).map((entry) => {
    const location = entry.response?.location ?? '';
    return location === ''
      ? ''
      : (location.split('/_history/')[0] ?? location).split('/').slice(-2).join('/');
  });
}

/**
 * Plans and posts the transaction of one message.
 * @returns The resources written or matched, such as `Observation/12`.
 * @throws Hl7ProcessingError for an unknown or ambiguous patient or a mapping problem.
 * @throws FhirTransactionError when the FHIR server cannot be reached or rejects a request.
 */
export async function writeResults(
  deps: FhirWriterDependencies,
  message: Hl7Message,
  receivedAt: Date,
  options: WriteOptions = {}
): Promise<string[]> {
  const bundle = await planResults(deps, message, receivedAt, options);
  if ((bundle.entry ?? []).length === 0) {
    return [];
  }
  return (await postTransaction(deps, bundle)).filter((id) => id !== '');
}
