/**
 * Systems, codes and extension URLs used across MonitorMed.
 *
 * The AI labels follow the HL7 AI Transparency on FHIR IG 1.0.0 (hl7.fhir.uv.aitransparency,
 * https://hl7.org/fhir/uv/aitransparency/1.0.0/): every AI-asserted resource carries the security label
 * AIAST, the model is a Device typed Artificial-Intelligence, and an AI Provenance links the result to it.
 * Monitoring results have no IG yet, so MonitorMed defines its own extensions under {@link MONITORMED_BASE}.
 */
import type { Coding } from '@medplum/fhirtypes';

/** Canonical base of the AI Transparency IG. */
export const AI_TRANSPARENCY_BASE = 'http://hl7.org/fhir/uv/aitransparency';

/** Version of the AI Transparency IG these codes mirror. */
export const AI_TRANSPARENCY_VERSION = '1.0.0';

/** HL7 v3 ObservationValue code system, which contains the integrity label AIAST. */
export const V3_OBSERVATION_VALUE = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';

/** Security label "Artificial Intelligence asserted" that marks every AI-derived resource. */
export const AIAST: Coding = {
  system: V3_OBSERVATION_VALUE,
  code: 'AIAST',
  display: 'Artificial Intelligence asserted',
};

/** Search value that selects AI-labelled resources, for example in `Observation?_security=`. */
export const AIAST_SEARCH = `${V3_OBSERVATION_VALUE}|AIAST`;

/** Device type code system of the AI Transparency IG. */
export const AI_DEVICE_TYPE_SYSTEM = `${AI_TRANSPARENCY_BASE}/CodeSystem/AIdeviceTypeCS`;

/** Device.type every AI model Device carries, and the role of the AI agent in an AI Provenance. */
export const AI_DEVICE_TYPE: Coding = {
  system: AI_DEVICE_TYPE_SYSTEM,
  code: 'Artificial-Intelligence',
  display: 'All kinds of Artificial Intelligence',
};

/**
 * Provenance.agent.role of the AI agent in an AI Provenance: AI_DEVICE_TYPE without display. The IG's
 * AI-Provenance profile fixes this role exactly (`fixedCodeableConcept`), so a display makes it invalid.
 */
export const AI_AGENT_ROLE: Coding = {
  system: AI_DEVICE_TYPE_SYSTEM,
  code: 'Artificial-Intelligence',
};

/** AIconfidence extension: the model's own confidence in the result, as a probability from 0 to 1. */
export const AI_CONFIDENCE_EXTENSION = `${AI_TRANSPARENCY_BASE}/StructureDefinition/AIconfidence`;

/** Provenance agent type for a device that authored a result (R4 provenance-participant-type). */
export const PROVENANCE_AUTHOR: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  code: 'author',
  display: 'Author',
};

/** Canonical base of MonitorMed's own profiles, extensions, code systems and identifier systems. */
export const MONITORMED_BASE = 'https://monitormed.dev/fhir';

/**
 * `meta.source` of the versions that the analyzers write back (extensions, status). HAPI FHIR stores it
 * with `#<request id>` appended. fhir-server-ext queues no analysis for such a version, because its
 * value and inputs are those of the version already analysed.
 */
export const ANALYZER_WRITE_SOURCE = `${MONITORMED_BASE}/analyzers`;

/** Tells whether a resource version was written by the analyzers, from its `meta.source`. */
export function isAnalyzerWrite(meta: { source?: string } | undefined): boolean {
  const source = meta?.source ?? '';
  return source === ANALYZER_WRITE_SOURCE || source.startsWith(`${ANALYZER_WRITE_SOURCE}#`);
}

/** Identifier system of a monitored AI model; the value is the model id, such as `sepsis-risk`. */
export const MODEL_ID_SYSTEM = `${MONITORMED_BASE}/sid/model-id`;

/** Identifier system of results mapped from HL7 v2: `{sending facility}|{MSH-10}|{OBR}|{OBX}`. */
export const HL7_RESULT_ID_SYSTEM = `${MONITORMED_BASE}/sid/hl7v2-result`;

/** Identifier system of monitoring Flags, so that re-running an analysis never writes a second Flag. */
export const FLAG_ID_SYSTEM = `${MONITORMED_BASE}/sid/monitoring-flag`;

/** Extension on an AI result with the uncertainty MonitorMed computed for it. */
export const UNCERTAINTY_EXTENSION = `${MONITORMED_BASE}/StructureDefinition/ai-uncertainty`;

/** Extension on an AI result with the drift status of its model in the result's window. */
export const DRIFT_EXTENSION = `${MONITORMED_BASE}/StructureDefinition/ai-drift`;

/** Code system of MonitorMed's monitoring codes (flag reasons, metric names). */
export const MONITORING_CODE_SYSTEM = `${MONITORMED_BASE}/CodeSystem/monitoring`;

/** Core R4 extension on a Flag that points at the record the flag is about. */
export const FLAG_DETAIL_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/flag-detail';

/** Flag codes MonitorMed raises on a patient. */
export const FLAG_CODES = {
  highUncertainty: {
    system: MONITORING_CODE_SYSTEM,
    code: 'high-uncertainty',
    display: 'AI result has high uncertainty',
  },
  modelDrift: {
    system: MONITORING_CODE_SYSTEM,
    code: 'model-drift',
    display: 'AI model drift detected when this result was produced',
  },
} as const satisfies Record<string, Coding>;

/**
 * Tells whether a resource's `meta.security` carries the AIAST label.
 * @param meta - The resource's meta element.
 * @returns True when AIAST is present.
 */
export function hasAiLabel(meta: { security?: Coding[] } | undefined): boolean {
  return (meta?.security ?? []).some((c) => c.system === AIAST.system && c.code === AIAST.code);
}
