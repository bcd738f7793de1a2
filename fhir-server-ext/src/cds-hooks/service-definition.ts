/**
 * The patient-view service MonitorMed publishes at GET /cds-services: it shows the patient's active
 * MonitorMed Flags on AI results (https://cds-hooks.hl7.org/hooks/patient-view/).
 */
import type { Coding } from '@medplum/fhirtypes';
import { AIAST_SEARCH, MONITORMED_BASE, MONITORING_CODE_SYSTEM } from '@monitormed/common';
import type { CdsServiceDefinition } from './types.js';

/** Id of the service; its endpoint is `{baseUrl}/cds-services/monitormed-ai-flags`. */
export const AI_FLAGS_SERVICE_ID = 'monitormed-ai-flags';

/** Prefetch keys of the service. */
export const PREFETCH_KEYS = {
  /** The patient's AI-labelled Observations, newest first, with their model Devices. */
  aiResults: 'aiResults',
  /** The patient's AI-labelled Flags. */
  monitoringFlags: 'monitoringFlags',
} as const;

/**
 * Maximum AI results and Flags read per patient. Flags of older results than these are still shown:
 * the service then reads the flagged Observations by id, when it can reach the FHIR server.
 */
export const PREFETCH_COUNT = 100;

const security = encodeURIComponent(AIAST_SEARCH);

/**
 * Prefetch templates. R4 Flag has no `status` search parameter (HAPI rejects it), so the template
 * selects the AI-labelled Flags and the service keeps the active ones.
 */
export const PREFETCH_TEMPLATES: Record<keyof typeof PREFETCH_KEYS, string> = {
  aiResults:
    `Observation?patient={{context.patientId}}&_security=${security}` +
    `&_sort=-date&_count=${PREFETCH_COUNT}&_include=Observation:device`,
  monitoringFlags: `Flag?patient={{context.patientId}}&_security=${security}&_count=${PREFETCH_COUNT}`,
};

/** The discovery entry of the service. */
export const AI_FLAGS_SERVICE: CdsServiceDefinition = {
  hook: 'patient-view',
  title: 'MonitorMed AI result flags',
  description:
    "Shows a card for each of the patient's AI results that MonitorMed flagged as unreliable " +
    '(high uncertainty or model drift), with the model, the numbers and a link to the MonitorMed app.',
  id: AI_FLAGS_SERVICE_ID,
  prefetch: {
    [PREFETCH_KEYS.aiResults]: PREFETCH_TEMPLATES.aiResults,
    [PREFETCH_KEYS.monitoringFlags]: PREFETCH_TEMPLATES.monitoringFlags,
  },
  usageRequirements:
    'Sign every call with a JWT whose iss is registered in CDS_CLIENTS. Grant read access to ' +
    "the patient's Observation, Flag and Device resources, through prefetch or fhirAuthorization.",
};

/** Code system of the override reasons offered on cards. */
export const OVERRIDE_REASON_SYSTEM = `${MONITORMED_BASE}/CodeSystem/cds-override-reason`;

/** Override reasons a clinician can pick when dismissing a card; CDS Hooks requires a display for each. */
export const OVERRIDE_REASONS: Coding[] = [
  {
    system: OVERRIDE_REASON_SYSTEM,
    code: 'result-confirmed',
    display: 'AI result confirmed by other findings',
  },
  { system: OVERRIDE_REASON_SYSTEM, code: 'result-not-used', display: 'AI result not used in this decision' },
  { system: OVERRIDE_REASON_SYSTEM, code: 'already-aware', display: 'Already aware of this model issue' },
  { system: OVERRIDE_REASON_SYSTEM, code: 'flag-disputed', display: 'Monitoring flag looks wrong' },
];

/** Card source topic, so an EHR can group MonitorMed's cards. */
export const CARD_TOPIC: Coding = {
  system: MONITORING_CODE_SYSTEM,
  code: 'ai-result-monitoring',
  display: 'AI result monitoring',
};

/**
 * Expands the `{{context.patientId}}` token of a prefetch template.
 * @param template - One of {@link PREFETCH_TEMPLATES}.
 * @param patientId - The patient's FHIR id.
 * @returns A relative FHIR search URL.
 */
export function expandTemplate(template: string, patientId: string): string {
  return template.replaceAll('{{context.patientId}}', encodeURIComponent(patientId));
}
