/** The app's SMART registration as its server publishes it at `/smart-app-config.json`. */
export interface SmartAppClientConfig {
  /** OAuth client id registered with the EHR's authorization server. */
  clientId: string;
  /** Scopes requested in an EHR launch. */
  ehrScope: string;
  /** Scopes requested in a standalone launch. */
  standaloneScope: string;
  /** FHIR base URL of a standalone launch opened without `iss`. */
  defaultIss: string;
  /** FHIR base URLs the app accepts as `iss`; others could be an attacker's server. */
  allowedIss: string[];
}

/** Path of the configuration below the app's origin. */
export const CLIENT_CONFIG_PATH = '/smart-app-config.json';
