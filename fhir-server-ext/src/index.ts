export { startFhirServerExt, type FhirServerExt, type FhirServerExtOptions } from './server.js';
export { HOOK_PATH } from './hook-router.js';
export {
  AI_OBSERVATION_CRITERIA,
  SECRET_HEADER,
  SUBSCRIPTION_OWNER_SYSTEM,
  buildSubscription,
  deleteOwnedSubscriptions,
  ensureSubscription,
} from './subscription.js';
export { SubscriptionSetupError } from './subscription-setup-error.js';
export { TimeoutError } from './timeout-error.js';
export {
  AI_FLAGS_SERVICE,
  AI_FLAGS_SERVICE_ID,
  OVERRIDE_REASONS,
  PREFETCH_TEMPLATES,
} from './cds-hooks/service-definition.js';
export { INDICATOR_BY_FLAG_CODE, indicatorFor } from './cds-hooks/cards.js';
export { loadCdsHooksSettings, type CdsHooksSettings, type TrustedCdsClient } from './cds-hooks/settings.js';
export { ClientAuthError } from './cds-hooks/client-auth-error.js';
export { PatientDataError } from './cds-hooks/patient-data-error.js';
export type { CdsCard, CdsFeedback, CdsServiceDefinition } from './cds-hooks/types.js';
export { FHIR_PATH } from './proxy/fhir-router.js';
export { AUDIT_QUEUE } from './proxy/audit-queue.js';
export { loadSmartConfig, type SmartConfig } from './auth/smart-config.js';
export { parseScopes, type ClinicalScope, type Permission } from './auth/scopes.js';
export { createGroundTruth, type GroundTruth, type GroundTruthOptions } from './ground-truth/service.js';
export { extractReportLabel, EXTRACTOR_VERSION, type ExtractionResult } from './ground-truth/extractor.js';
export { loadGroundTruthRules, type GroundTruthRule } from './ground-truth/rules.js';
export { GroundTruthConfigError } from './ground-truth/ground-truth-config-error.js';
export { GROUND_TRUTH_HOOK_PATH } from './ground-truth/hook.js';
export { flaggedObservationId } from './cds-hooks/patient-data.js';
