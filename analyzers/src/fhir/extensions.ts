/**
 * The MonitorMed extensions the analyzers write on an AI result Observation (see the data contract in
 * common/src/fhir-codes.ts): UNCERTAINTY_EXTENSION and DRIFT_EXTENSION, both complex extensions.
 */
import type { Extension } from '@medplum/fhirtypes';
import { DRIFT_EXTENSION, UNCERTAINTY_EXTENSION } from '@monitormed/common';
import type { McUncertainty } from '../uncertainty/surrogate-uncertainty.js';

/** Version written into `analyzerVersion`; a result analysed by another version is analysed again. */
export const ANALYZER_VERSION = 'monitormed-analyzers/0.1.0';

/** Drift status of a model in one window, as written into DRIFT_EXTENSION. */
export interface DriftStatus {
  /** KS statistic D. */
  statistic: number;
  pValue: number;
  /** p-value threshold in force when the window was tested. */
  threshold: number;
  /** Window key, a UTC day. */
  window: string;
  detected: boolean;
}

/**
 * Builds UNCERTAINTY_EXTENSION: the method, the entropy in bits of the reported probability, and the
 * analyzer version. With an MC dropout estimate the method is `mc-dropout`, and the extension adds the
 * sample count T, the surrogate version, and the surrogate's mean, standard deviation, predictive entropy
 * and mutual information.
 * @param entropyBits - Binary predictive entropy of the score, written as `value` for every method. MC
 *   dropout samples differ on every run, so this value is what marks a re-delivered result as analysed.
 * @param mc - The MC dropout estimate, when the model has an active surrogate.
 * @returns The complex extension.
 */
export function buildUncertaintyExtension(entropyBits: number, mc?: McUncertainty): Extension {
  const parts: Extension[] = [
    { url: 'method', valueCode: mc === undefined ? 'entropy' : 'mc-dropout' },
    { url: 'value', valueDecimal: entropyBits },
    { url: 'analyzerVersion', valueString: ANALYZER_VERSION },
  ];
  if (mc !== undefined) {
    parts.push(
      { url: 'samples', valueInteger: mc.samples },
      { url: 'surrogateVersion', valueString: String(mc.surrogateVersion) },
      { url: 'mean', valueDecimal: mc.mean },
      { url: 'std', valueDecimal: mc.std },
      { url: 'predictiveEntropy', valueDecimal: mc.predictiveEntropyBits },
      { url: 'mutualInformation', valueDecimal: mc.mutualInformationBits }
    );
  }
  return { url: UNCERTAINTY_EXTENSION, extension: parts };
}

/**
 * Builds DRIFT_EXTENSION from a window's KS test.
 * @param status - The test result.
 * @returns The complex extension.
 */
export function buildDriftExtension(status: DriftStatus): Extension {
  return {
    url: DRIFT_EXTENSION,
    extension: [
      { url: 'test', valueCode: 'ks' },
      { url: 'statistic', valueDecimal: status.statistic },
      { url: 'pValue', valueDecimal: status.pValue },
      { url: 'threshold', valueDecimal: status.threshold },
      { url: 'window', valueString: status.window },
      { url: 'detected', valueBoolean: status.detected },
    ],
  };
}

/**
 * Reads the entropy and analyzer version of an UNCERTAINTY_EXTENSION.
 * @param extensions - The Observation's extensions.
 * @returns The values, or undefined when the extension is absent or incomplete.
 */
export function readUncertainty(
  extensions: readonly Extension[] | undefined
): { entropyBits: number; analyzerVersion: string } | undefined {
  const uncertainty = extensions?.find((extension) => extension.url === UNCERTAINTY_EXTENSION);
  const parts = uncertainty?.extension ?? [];
  const entropyBits = parts.find((part) => part.url === 'value')?.valueDecimal;
  const analyzerVersion = parts.find((part) => part.url === 'analyzerVersion')?.valueString;
  if (entropyBits === undefined || analyzerVersion === undefined) {
    return undefined;
  }
  return { entropyBits, analyzerVersion };
}

/**
 * Replaces every extension with `replacement.url` by `replacement`, keeping the others in order.
 * @param extensions - Current extensions.
 * @param replacement - The new extension.
 * @returns A new array.
 */
export function replaceExtension(
  extensions: readonly Extension[] | undefined,
  replacement: Extension
): Extension[] {
  return [...(extensions ?? []).filter((extension) => extension.url !== replacement.url), replacement];
}

/**
 * Tells whether `extensions` already contain an extension equal to `expected`.
 * @param extensions - Current extensions.
 * @param expected - The extension to look for.
 * @returns True when one with the same url has the same content.
 */
export function hasEqualExtension(
  extensions: readonly Extension[] | undefined,
  expected: Extension
): boolean {
  const current = extensions?.find((extension) => extension.url === expected.url);
  return current !== undefined && JSON.stringify(current) === JSON.stringify(expected);
}
