/**
 * The MonitorMed extensions the analyzers write on an AI result Observation (see the data contract in
 * common/src/fhir-codes.ts): UNCERTAINTY_EXTENSION and DRIFT_EXTENSION, both complex extensions.
 */
import type { Extension } from '@medplum/fhirtypes';
import { DRIFT_EXTENSION, UNCERTAINTY_EXTENSION } from '@monitormed/common';
import type { UncertaintyAssessment, UncertaintyRule } from '../uncertainty/high-uncertainty.js';
import type { McUncertainty } from '../uncertainty/surrogate-uncertainty.js';

/** Version written into `analyzerVersion`; a result analysed by another version is analysed again. */
export const ANALYZER_VERSION = 'monitormed-analyzers/0.1.0';

/** Reference sample of a window's drift test: the model version's pooled reference windows. */
export interface DriftReference {
  /** Keys of the reference windows, in key order. */
  windows: string[];
  /** Results in the pooled reference. */
  n: number;
}

/** Drift status of a model in one window, as written into DRIFT_EXTENSION. */
export interface DriftStatus {
  /** KS statistic D. */
  statistic: number;
  pValue: number;
  /** p-value threshold in force when the window was tested. */
  threshold: number;
  /** Window key, a UTC day. */
  window: string;
  reference: DriftReference;
  detected: boolean;
}

/** Rule limits and verdict recorded in an UNCERTAINTY_EXTENSION. */
export interface RecordedUncertaintyRules {
  entropyThresholdBits: number;
  marginWidth: number;
  /** Rules that fired when the result was analysed, or none. */
  flaggedBy: UncertaintyRule[];
}

/** The values of an UNCERTAINTY_EXTENSION. */
export interface RecordedUncertainty {
  /** Binary entropy in bits of the reported probability (`value`). */
  entropyBits: number;
  analyzerVersion: string;
  /** Method codes, in the order written; the first is `mc-dropout` when MC dropout values are present. */
  methods: string[];
  margin: number | undefined;
  mutualInformationBits: number | undefined;
  /** Undefined for an extension written before the analyzers recorded their rules. */
  rules: RecordedUncertaintyRules | undefined;
}

/**
 * Builds UNCERTAINTY_EXTENSION: the methods, the entropy in bits of the reported probability as `value`,
 * the margin, the limits of the entropy and margin rules, the rules that fired (`flaggedBy`) and the
 * analyzer version. With an MC dropout estimate, the methods start with `mc-dropout` and end with
 * `mutual-information`, and the extension adds the sample count T, the surrogate version, and the
 * surrogate's mean, standard deviation, predictive entropy and mutual information.
 * @param assessment - Entropy, margin, limits and fired rules of the reported probability. Its entropy is
 *   `value` for every method. MC dropout samples differ on every run, so `value` is what marks a
 *   re-delivered result as analysed.
 * @param mc - The MC dropout estimate, when the model has an active surrogate.
 * @returns The complex extension.
 */
export function buildUncertaintyExtension(assessment: UncertaintyAssessment, mc?: McUncertainty): Extension {
  // Readers written when `method` had one repetition read the first one, so it stays the method that
  // produced the richest values: mc-dropout when present, else entropy.
  const methods =
    mc === undefined ? ['entropy', 'margin'] : ['mc-dropout', 'entropy', 'margin', 'mutual-information'];
  const parts: Extension[] = [
    ...methods.map((code) => ({ url: 'method', valueCode: code })),
    { url: 'value', valueDecimal: assessment.entropyBits },
    { url: 'analyzerVersion', valueString: ANALYZER_VERSION },
    { url: 'margin', valueDecimal: assessment.margin },
    { url: 'entropyThreshold', valueDecimal: assessment.entropyThresholdBits },
    { url: 'marginWidth', valueDecimal: assessment.marginWidth },
    ...assessment.flaggedBy.map((rule) => ({ url: 'flaggedBy', valueCode: rule })),
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
 * @param status - The test result and its reference.
 * @returns The complex extension, whose `reference` nests one `window` per reference window and `n`.
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
      {
        url: 'reference',
        extension: [
          ...status.reference.windows.map((window) => ({ url: 'window', valueString: window })),
          { url: 'n', valueInteger: status.reference.n },
        ],
      },
      { url: 'detected', valueBoolean: status.detected },
    ],
  };
}

/** DRIFT_EXTENSION parts that move with every result added to the window, without changing its verdict. */
const DRIFT_MEASURE_PARTS = new Set(['statistic', 'pValue']);

/**
 * Tells whether `extensions` hold a DRIFT_EXTENSION with the verdict of `expected`: the same test,
 * threshold, window, reference and `detected`. The statistic and p-value are not compared, because
 * each result added to an open window moves them, and rewriting every result of the window at each
 * evaluation would add a version per result per evaluation to the FHIR server. So the stored
 * statistic is that of the evaluation that last changed the verdict; the window's latest one is in its
 * metric Observation.
 * @param extensions - Current extensions.
 * @param expected - The DRIFT_EXTENSION of the latest evaluation.
 * @returns True when no write is needed.
 */
export function hasSameDriftVerdict(
  extensions: readonly Extension[] | undefined,
  expected: Extension
): boolean {
  const verdict = (parts: readonly Extension[] | undefined): string =>
    JSON.stringify((parts ?? []).filter((part) => !DRIFT_MEASURE_PARTS.has(part.url)));
  const current = extensions?.find((extension) => extension.url === DRIFT_EXTENSION);
  return current !== undefined && verdict(current.extension) === verdict(expected.extension);
}

function partsOf(extensions: readonly Extension[] | undefined, url: string): Extension[] {
  return extensions?.find((extension) => extension.url === url)?.extension ?? [];
}

/**
 * Reads an UNCERTAINTY_EXTENSION.
 * @param extensions - The Observation's extensions.
 * @returns The values, or undefined when the extension is absent or lacks `value` or `analyzerVersion`.
 */
export function readUncertainty(
  extensions: readonly Extension[] | undefined
): RecordedUncertainty | undefined {
  const parts = partsOf(extensions, UNCERTAINTY_EXTENSION);
  const decimal = (url: string): number | undefined => parts.find((part) => part.url === url)?.valueDecimal;
  const codes = (url: string): string[] =>
    parts.flatMap((part) => (part.url === url && part.valueCode !== undefined ? [part.valueCode] : []));

  const entropyBits = decimal('value');
  const analyzerVersion = parts.find((part) => part.url === 'analyzerVersion')?.valueString;
  if (entropyBits === undefined || analyzerVersion === undefined) {
    return undefined;
  }

  const entropyThresholdBits = decimal('entropyThreshold');
  const marginWidth = decimal('marginWidth');
  const rules =
    entropyThresholdBits === undefined || marginWidth === undefined
      ? undefined
      : {
          entropyThresholdBits,
          marginWidth,
          flaggedBy: codes('flaggedBy').filter(
            (code): code is UncertaintyRule => code === 'entropy' || code === 'margin'
          ),
        };
  return {
    entropyBits,
    analyzerVersion,
    methods: codes('method'),
    margin: decimal('margin'),
    mutualInformationBits: decimal('mutualInformation'),
    rules,
  };
}

/**
 * Reads the `reference` of a DRIFT_EXTENSION.
 * @param extensions - The Observation's extensions.
 * @returns The reference, or undefined when the extension or its reference is absent, or the reference has
 *   no window or no `n`.
 */
export function readDriftReference(extensions: readonly Extension[] | undefined): DriftReference | undefined {
  const reference = partsOf(extensions, DRIFT_EXTENSION).find((part) => part.url === 'reference');
  const parts = reference?.extension ?? [];
  const windows = parts.flatMap((part) =>
    part.url === 'window' && part.valueString !== undefined ? [part.valueString] : []
  );
  const n = parts.find((part) => part.url === 'n')?.valueInteger;
  return windows.length === 0 || n === undefined ? undefined : { windows, n };
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
