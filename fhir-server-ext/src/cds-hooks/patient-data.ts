/**
 * Collects a patient's active MonitorMed Flags, the flagged AI results and their model Devices, from the
 * request's prefetch or else from the FHIR server.
 */
import type { Bundle, Device, Flag, Observation, Resource } from '@medplum/fhirtypes';
import { FLAG_DETAIL_EXTENSION, MONITORING_CODE_SYSTEM, hasAiLabel, type Logger } from '@monitormed/common';
import { PatientDataError } from './patient-data-error.js';
import { PREFETCH_KEYS, PREFETCH_TEMPLATES, expandTemplate } from './service-definition.js';
import type { PatientViewRequest } from './types.js';

/** Access to a FHIR server: base URL, optional bearer token and time limit. */
export interface FhirAccess {
  baseUrl: string;
  /** Bearer token from the request's fhirAuthorization; none for the configured server. */
  accessToken?: string;
  timeoutMs: number;
}

/** A patient's flagged AI results. */
export interface PatientAiData {
  /** Active AI-labelled Flags with a MonitorMed code that point at an Observation of the patient. */
  flags: Flag[];
  /** AI results by id. Flagged results that could not be read are missing. */
  observations: Map<string, Observation>;
  /** Model Devices by id. */
  devices: Map<string, Device>;
}

/** Maximum pages read per search, so a huge result set cannot stall the hook (each page ≤ 100 entries). */
const MAX_PAGES = 5;

/**
 * Loads the patient's monitoring Flags and flagged results.
 * @param request - The validated request; its prefetch is used when it contains the key.
 * @param access - How to read the FHIR server, or undefined when the service must not call it.
 * @param log - Logger for the optional reads that fail.
 * @throws PatientDataError when a prefetch key is missing and the FHIR server cannot be read.
 */
export async function loadPatientAiData(
  request: PatientViewRequest,
  access: FhirAccess | undefined,
  log: Logger
): Promise<PatientAiData> {
  const patientId = request.context.patientId;
  const patientReference = `Patient/${patientId}`;

  const flagResources = await prefetchedOrSearched(request, 'monitoringFlags', access);
  const resultResources = await prefetchedOrSearched(request, 'aiResults', access);

  const flags = flagResources.filter(
    (resource): resource is Flag =>
      resource.resourceType === 'Flag' && isMonitoringFlag(resource, patientReference)
  );
  const observations = new Map<string, Observation>();
  const devices = new Map<string, Device>();
  collect(resultResources, patientReference, observations, devices);

  // Flags of results older than the newest PREFETCH_COUNT are valid too; read those results by id.
  const missing = [...new Set(flags.map(flaggedObservationId))].filter(
    (id): id is string => id !== undefined && !observations.has(id)
  );
  if (missing.length > 0 && access !== undefined) {
    const query = `Observation?_id=${missing.map(encodeURIComponent).join(',')}&patient=${encodeURIComponent(patientId)}&_include=Observation:device`;
    try {
      collect(await searchAll(access, query), patientReference, observations, devices);
    } catch (err) {
      log.warn(
        { err, count: missing.length },
        'Could not read flagged AI results; their cards have fewer details'
      );
    }
  }

  return { flags, observations, devices };
}

/**
 * Returns the Observation id a monitoring Flag points at through the flag-detail extension.
 * @param flag - A Flag.
 */
export function flaggedObservationId(flag: Flag): string | undefined {
  const reference = flag.extension?.find((extension) => extension.url === FLAG_DETAIL_EXTENSION)
    ?.valueReference?.reference;
  const match = /^Observation\/([A-Za-z0-9\-.]{1,64})$/.exec(reference ?? '');
  return match?.[1];
}

function isMonitoringFlag(flag: Flag, patientReference: string): boolean {
  return (
    flag.status === 'active' &&
    hasAiLabel(flag.meta) &&
    flag.subject.reference === patientReference &&
    (flag.code.coding ?? []).some((coding) => coding.system === MONITORING_CODE_SYSTEM) &&
    flaggedObservationId(flag) !== undefined
  );
}

function collect(
  resources: readonly Resource[],
  patientReference: string,
  observations: Map<string, Observation>,
  devices: Map<string, Device>
): void {
  for (const resource of resources) {
    if (
      resource.resourceType === 'Observation' &&
      resource.id !== undefined &&
      resource.subject?.reference === patientReference
    ) {
      observations.set(resource.id, resource);
    } else if (resource.resourceType === 'Device' && resource.id !== undefined) {
      devices.set(resource.id, resource);
    }
  }
}

async function prefetchedOrSearched(
  request: PatientViewRequest,
  key: keyof typeof PREFETCH_KEYS,
  access: FhirAccess | undefined
): Promise<Resource[]> {
  const prefetchKey = PREFETCH_KEYS[key];
  const prefetch = request.prefetch ?? {};
  if (prefetchKey in prefetch) {
    // null means the client ran the template and found nothing.
    const bundle = prefetch[prefetchKey] as Bundle | null;
    return (bundle?.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
  }

  if (access === undefined) {
    throw new PatientDataError(
      `Prefetch "${prefetchKey}" is missing and the service may not read the FHIR server: ` +
        'send the prefetch, or a fhirServer on the allow-list CDS_FHIR_SERVERS.'
    );
  }
  try {
    return await searchAll(access, expandTemplate(PREFETCH_TEMPLATES[key], request.context.patientId));
  } catch (err) {
    throw new PatientDataError(
      `Prefetch "${prefetchKey}" is missing and reading ${access.baseUrl} failed: ${(err as Error).message}`
    );
  }
}

/** Runs a search and follows `next` links on the same server, up to {@link MAX_PAGES} pages. */
async function searchAll(access: FhirAccess, relativeUrl: string): Promise<Resource[]> {
  const resources: Resource[] = [];
  let url: string | undefined = `${access.baseUrl}/${relativeUrl}`;

  for (let page = 0; page < MAX_PAGES && url !== undefined; page++) {
    const response = await fetch(url, {
      headers: {
        accept: 'application/fhir+json',
        ...(access.accessToken === undefined ? {} : { authorization: `Bearer ${access.accessToken}` }),
      },
      signal: AbortSignal.timeout(access.timeoutMs),
    });
    if (!response.ok) {
      throw new Error(
        `HTTP ${response.status} from ${access.baseUrl} for a ${relativeUrl.split('?')[0] ?? ''} search`
      );
    }

    const bundle = (await response.json()) as Bundle;
    for (const entry of bundle.entry ?? []) {
      if (entry.resource !== undefined) {
        resources.push(entry.resource);
      }
    }

    // A next link on another host would make the service send the token there.
    const next = bundle.link?.find((link) => link.relation === 'next')?.url;
    const sameServer =
      next?.startsWith(`${access.baseUrl}/`) === true || next?.startsWith(`${access.baseUrl}?`) === true;
    url = sameServer ? next : undefined;
  }
  return resources;
}
