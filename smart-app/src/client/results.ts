/**
 * Turns the FHIR search results of one patient into the rows the page shows: one row per AI result
 * (an AIAST-labelled Observation), with its model Device, the analyzer's uncertainty and drift extensions
 * and the monitoring Flags that point at it. Pure functions only, so they run in the browser and in tests.
 */
import type { Bundle, Device, Extension, Flag, Observation, Resource } from '@medplum/fhirtypes';
import {
  AI_CONFIDENCE_EXTENSION,
  DRIFT_EXTENSION,
  FLAG_DETAIL_EXTENSION,
  UNCERTAINTY_EXTENSION,
} from '@monitormed/common/fhir-codes';
import {
  FLAG_RESPONSE_EXTENSION,
  FLAG_RESPONSES,
  type FlagResponseCode,
} from '@monitormed/common/flag-response';

/** Drift status of the result's model in the result's window, from DRIFT_EXTENSION. */
export interface DriftStatus {
  detected: boolean | undefined;
  pValue: number | undefined;
  /** UTC day of the window, such as `2026-03-14`. */
  window: string | undefined;
}

/** A clinician's response recorded on a Flag by `Flag/{id}/$respond`. */
export interface FlagResponse {
  response: FlagResponseCode;
  /** Display (or code) of the reason Coding. */
  reason: string | undefined;
  comment: string | undefined;
  /** Reference of the clinician, such as `Practitioner/123`. */
  author: string | undefined;
  time: string | undefined;
}

/** A monitoring Flag raised on one AI result. */
export interface ResultFlag {
  flagId: string;
  /** The Flag's code display (or code), which states why the result was flagged. */
  reason: string;
  /** Undefined until a clinician acknowledges or overrides the Flag. */
  response: FlagResponse | undefined;
}

/** One AI result as the page shows it. */
export interface AiResultRow {
  observationId: string;
  modelName: string;
  modelVersion: string | undefined;
  effectiveDateTime: string | undefined;
  /** Observation.valueQuantity.value, the model's output probability from 0 to 1. */
  probability: number | undefined;
  /** Observation.interpretation display, such as `Positive`. */
  interpretation: string | undefined;
  /** AIconfidence extension value from 0 to 1. */
  confidence: number | undefined;
  /** Binary entropy of the probability in bits, from UNCERTAINTY_EXTENSION `value`. */
  uncertaintyBits: number | undefined;
  /** Undefined when the drift analyzer has not evaluated the result yet. */
  drift: DriftStatus | undefined;
  flags: ResultFlag[];
}

/** The rows of one patient, plus the count of active Flags that point at no listed result. */
export interface PatientAiResults {
  rows: AiResultRow[];
  /** True when the server has more results than the first page the rows come from. */
  hasMoreResults: boolean;
  unlinkedFlagCount: number;
}

/** Readable names of the v3-ObservationInterpretation codes the data contract uses. */
const INTERPRETATION_NAMES = new Map([
  ['POS', 'Positive'],
  ['NEG', 'Negative'],
]);

/**
 * Reduces a reference such as `Device/12`, `Device/12/_history/3` or an absolute URL to `Device/12`,
 * so that references match the `resourceType/id` key of included resources.
 */
export function referenceKey(reference: string | undefined): string | undefined {
  if (reference === undefined) {
    return undefined;
  }

  const withoutHistory = reference.replace(/\/_history\/[^/]+$/, '');
  const parts = withoutHistory.split('/');
  const type = parts.at(-2);
  const id = parts.at(-1);
  return type === undefined || id === undefined || id === '' ? undefined : `${type}/${id}`;
}

function subExtension(extension: Extension | undefined, url: string): Extension | undefined {
  return extension?.extension?.find((e) => e.url === url);
}

function readUncertaintyBits(observation: Observation): number | undefined {
  const uncertainty = observation.extension?.find((e) => e.url === UNCERTAINTY_EXTENSION);
  return subExtension(uncertainty, 'value')?.valueDecimal;
}

function readDrift(observation: Observation): DriftStatus | undefined {
  const drift = observation.extension?.find((e) => e.url === DRIFT_EXTENSION);
  if (drift === undefined) {
    return undefined;
  }

  return {
    detected: subExtension(drift, 'detected')?.valueBoolean,
    pValue: subExtension(drift, 'pValue')?.valueDecimal,
    window: subExtension(drift, 'window')?.valueString,
  };
}

function readInterpretation(observation: Observation): string | undefined {
  const coding = observation.interpretation?.[0]?.coding?.[0];
  const name = coding?.code === undefined ? undefined : INTERPRETATION_NAMES.get(coding.code);
  return name ?? coding?.display ?? coding?.code ?? observation.interpretation?.[0]?.text;
}

function describeModel(
  observation: Observation,
  devices: Map<string, Device>
): { name: string; version: string | undefined } {
  const key = referenceKey(observation.device?.reference);
  const device = key === undefined ? undefined : devices.get(key);
  const name =
    device?.deviceName?.[0]?.name ?? observation.device?.display ?? device?.modelNumber ?? 'Unknown model';
  return { name, version: device?.version?.[0]?.value };
}

/** Reads the FLAG_RESPONSE_EXTENSION of a Flag, or undefined when no one has responded. */
export function readFlagResponse(flag: Flag): FlagResponse | undefined {
  const extension = flag.extension?.find((e) => e.url === FLAG_RESPONSE_EXTENSION);
  const part = (url: string): Extension | undefined => extension?.extension?.find((e) => e.url === url);
  const response = FLAG_RESPONSES.find((code) => code === part('response')?.valueCode);
  if (response === undefined) {
    return undefined;
  }
  const reason = part('reason')?.valueCoding;
  return {
    response,
    reason: reason?.display ?? reason?.code,
    comment: part('comment')?.valueString,
    author: part('author')?.valueReference?.reference,
    time: part('time')?.valueDateTime,
  };
}

function flagReason(flag: Flag): string {
  const coding = flag.code.coding?.[0];
  return coding?.display ?? flag.code.text ?? coding?.code ?? 'Flag without a reason code';
}

/**
 * Returns the resources of a search Bundle's entries.
 * @param bundle - A searchset Bundle, possibly with included resources.
 * @returns The resources, in Bundle order.
 */
export function bundleResources(bundle: Bundle): Resource[] {
  return (bundle.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
}

/**
 * Builds the rows of one patient from the AI result search and the Flag search.
 * @param observationBundle - Result of `Observation?subject=…&_security=AIAST&_include=Observation:device`.
 * @param flagBundle - Result of `Flag?subject=…`. Flags that are not `active` are left out, except those
 *   a clinician overrode, which are shown with the recorded response.
 * @returns One row per Observation, in the order of the search (newest first with `_sort=-date`).
 */
export function buildResultRows(observationBundle: Bundle, flagBundle: Bundle): PatientAiResults {
  const resources = bundleResources(observationBundle);
  const devices = new Map<string, Device>();
  for (const resource of resources) {
    if (resource.resourceType === 'Device' && resource.id !== undefined) {
      devices.set(`Device/${resource.id}`, resource);
    }
  }

  // The FLAG_DETAIL_EXTENSION valueReference of each Flag names the Observation it is about.
  const flagsByObservation = new Map<string, ResultFlag[]>();
  const flags = bundleResources(flagBundle).filter(
    (r): r is Flag =>
      r.resourceType === 'Flag' && (r.status === 'active' || readFlagResponse(r)?.response === 'override')
  );
  for (const flag of flags) {
    const detail = flag.extension?.find((e) => e.url === FLAG_DETAIL_EXTENSION);
    const key = referenceKey(detail?.valueReference?.reference);
    if (key === undefined || flag.id === undefined) {
      continue;
    }
    const list = flagsByObservation.get(key) ?? [];
    list.push({ flagId: flag.id, reason: flagReason(flag), response: readFlagResponse(flag) });
    flagsByObservation.set(key, list);
  }

  const rows: AiResultRow[] = [];
  for (const resource of resources) {
    if (resource.resourceType !== 'Observation' || resource.id === undefined) {
      continue;
    }
    const model = describeModel(resource, devices);
    rows.push({
      observationId: resource.id,
      modelName: model.name,
      modelVersion: model.version,
      effectiveDateTime: resource.effectiveDateTime,
      probability: resource.valueQuantity?.value,
      interpretation: readInterpretation(resource),
      confidence: resource.extension?.find((e) => e.url === AI_CONFIDENCE_EXTENSION)?.valueDecimal,
      uncertaintyBits: readUncertaintyBits(resource),
      drift: readDrift(resource),
      flags: flagsByObservation.get(`Observation/${resource.id}`) ?? [],
    });
  }

  const linkedFlagCount = rows.reduce((sum, row) => sum + row.flags.length, 0);
  return {
    rows,
    hasMoreResults: (observationBundle.link ?? []).some((link) => link.relation === 'next'),
    unlinkedFlagCount: flags.length - linkedFlagCount,
  };
}
