import { Client } from 'fhir-kit-client';
import type { MonitorMedConfig } from './config.js';

/** The fhir-kit-client instance type. */
export type FhirClient = Client;

/**
 * Creates a fhir-kit-client for the configured FHIR server.
 * @param config - Service configuration with `fhirBaseUrl`.
 * @returns A client that sends and accepts `application/fhir+json`.
 */
export function createFhirClient(config: Pick<MonitorMedConfig, 'fhirBaseUrl'>): FhirClient {
  return new Client({ baseUrl: config.fhirBaseUrl });
}
