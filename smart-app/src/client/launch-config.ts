/** The app's SMART registration as its server publishes it at `/smart-app-config.json`. */
export interface SmartAppClientConfig {
  /** OAuth client id registered with the EHR's authorization server. */
  clientId: string;
  /** Scopes requested in an EHR launch. */
  ehrScope: string;
  /** Scopes requested in a standalone launch. */
  standaloneScope: string;
  /** Scopes of a launch for the model views only (`launch.html?mode=models`), without a patient. */
  modelsScope: string;
  /** FHIR base URL of a standalone launch opened without `iss`. */
  defaultIss: string;
  /** FHIR base URLs the app accepts as `iss`; others could be an attacker's server. */
  allowedIss: string[];
}

/** Path of the configuration below the app's origin. */
export const CLIENT_CONFIG_PATH = '/smart-app-config.json';

/** Query parameter of the launch page that selects the scopes: `patient` (the default) or `models`. */
export const LAUNCH_MODE_PARAMETER = 'mode';

/** Launch modes: the patient view with a patient in context, or the model views without one. */
export const LAUNCH_MODES = ['patient', 'models'] as const;

/** One of {@link LAUNCH_MODES}. */
export type LaunchMode = (typeof LAUNCH_MODES)[number];

/**
 * Chooses the scopes of a launch.
 * @param mode - The launch mode.
 * @param isEhrLaunch - True when the EHR sent a `launch` id, which the `launch` scope claims.
 */
export function scopeFor(config: SmartAppClientConfig, mode: LaunchMode, isEhrLaunch: boolean): string {
  if (mode === 'models') {
    return isEhrLaunch ? `launch ${config.modelsScope}` : config.modelsScope;
  }
  return isEhrLaunch ? config.ehrScope : config.standaloneScope;
}
