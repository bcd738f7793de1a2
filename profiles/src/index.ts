/**
 * Canonical URLs of the profiles in MonitorMed's FHIR package (profiles/input/fsh, built by SUSHI).
 * Use them in `meta.profile` or `$validate?profile=`; HAPI resolves them once it has installed the package
 * (peers/peers.sh passes HAPI_IG_PACKAGE).
 */
import { AI_TRANSPARENCY_BASE, MONITORMED_BASE } from '@monitormed/common';

/** Profiles that MonitorMed defines for the resources its services write. */
export const MONITORMED_PROFILES = {
  monitoredAiDevice: `${MONITORMED_BASE}/StructureDefinition/monitored-ai-device`,
  aiResultObservation: `${MONITORMED_BASE}/StructureDefinition/ai-result-observation`,
  aiResultDiagnosticReport: `${MONITORMED_BASE}/StructureDefinition/ai-result-diagnostic-report`,
  monitoringFlag: `${MONITORMED_BASE}/StructureDefinition/monitoring-flag`,
  monitoringDeviceMetric: `${MONITORMED_BASE}/StructureDefinition/monitoring-device-metric`,
  monitoringMetricObservation: `${MONITORMED_BASE}/StructureDefinition/monitoring-metric-observation`,
} as const;

/** Profiles of the AI Transparency IG 1.0.0 that the package mirrors with the IG's canonical URLs. */
export const AI_TRANSPARENCY_PROFILES = {
  aiDevice: `${AI_TRANSPARENCY_BASE}/StructureDefinition/AI-Device`,
  aiProvenance: `${AI_TRANSPARENCY_BASE}/StructureDefinition/AI-Provenance`,
  aiModelCard: `${AI_TRANSPARENCY_BASE}/StructureDefinition/AI-ModelCard`,
} as const;
