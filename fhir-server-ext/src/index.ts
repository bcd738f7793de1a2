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
