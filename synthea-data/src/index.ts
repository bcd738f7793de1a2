export { loadBundles, orderBundleFiles } from './load.js';
export type { LoadBundlesOptions, LoadFailure, LoadProgress, LoadSummary } from './load.js';
export {
  rewriteForIdempotentLoad,
  assertTransactionBundle,
  deterministicId,
  identifierQuery,
} from './rewrite.js';
export { BundleFormatError } from './bundle-error.js';
export { FhirHttpError } from './fhir-http-error.js';
export { generatePopulation, ensureSyntheaLib, SYNTHEA_VERSION } from './generate.js';
export type { GenerateOptions, GenerateResult } from './generate.js';
export { SyntheaError } from './synthea-error.js';
export * from './scenario/index.js';
