/**
 * The inputs a surrogate learns from: which FHIR Observations feed each input of a monitored model, and how
 * an input row becomes the feature vector (the value, or the population default when missing, followed by
 * one missing-value indicator per input).
 */
import type { Observation } from '@medplum/fhirtypes';
import { BLOOD_PRESSURE_PANEL_CODES, SEPSIS_INPUTS, SEPSIS_MODEL_ID } from '@monitormed/synthea-data';

const LOINC = 'http://loinc.org';

/** One model input read from the patient's FHIR Observations. */
export interface SurrogateInputDefinition {
  name: string;
  /** LOINC codes of Observations whose valueQuantity is the input. */
  codes: readonly string[];
  /** LOINC codes of a component inside a panel Observation, such as systolic BP in a BP panel. */
  componentCodes?: readonly string[];
  /** LOINC codes of the panels that carry `componentCodes`. */
  panelCodes?: readonly string[];
  /** Value used when the patient has no such Observation in the lookback; its indicator is then 1. */
  populationDefault: number;
}

/** Inputs of one monitored model and how far back an input may be taken from. */
export interface SurrogateFeatureSpec {
  modelId: string;
  inputs: readonly SurrogateInputDefinition[];
  /** Hours before the result's effective time in which an input value counts; older values are missing. */
  lookbackHours: number;
}

/**
 * Default lookback of the sepsis inputs. NOTE: a clinical sepsis model reads vitals of the last hours; 72 h
 * is a guess for a demo whose labs are drawn once a day or less.
 */
export const DEFAULT_LOOKBACK_HOURS = 72;

/** Feature specs registered at run time, by model id; see {@link registerFeatureSpec}. */
const registeredSpecs = new Map<string, SurrogateFeatureSpec>();

/**
 * Registers the inputs of another model, so that surrogates can be trained and used for it.
 * @param spec - The model's inputs; replaces an earlier registration of the same model id.
 */
export function registerFeatureSpec(spec: SurrogateFeatureSpec): void {
  registeredSpecs.set(spec.modelId, spec);
}

/**
 * Returns the feature spec of a monitored model, or undefined when MonitorMed cannot gather its inputs.
 * The demo sepsis model reads the LOINC codes that the scenario simulator scores (SEPSIS_INPUTS), so the
 * surrogate gets the inputs the model got. Other models need {@link registerFeatureSpec}.
 * @param modelId - Model id, such as `sepsis-risk`.
 * @param lookbackHours - Overrides {@link DEFAULT_LOOKBACK_HOURS}.
 * @returns The spec, or undefined for a model without known inputs (such as the imaging model).
 */
export function featureSpecFor(
  modelId: string,
  lookbackHours = DEFAULT_LOOKBACK_HOURS
): SurrogateFeatureSpec | undefined {
  const registered = registeredSpecs.get(modelId);
  if (registered !== undefined) {
    return { ...registered, lookbackHours };
  }
  if (modelId !== SEPSIS_MODEL_ID) {
    return undefined;
  }
  return {
    modelId,
    lookbackHours,
    inputs: SEPSIS_INPUTS.map((input) => ({
      name: input.name,
      codes: input.codes,
      ...(input.componentCodes === undefined
        ? {}
        : { componentCodes: input.componentCodes, panelCodes: BLOOD_PRESSURE_PANEL_CODES }),
      populationDefault: input.populationDefault,
    })),
  };
}

/**
 * Lists the feature names in column order: every input, then `<input>Missing` for every input.
 * @param spec - The feature spec.
 * @returns Names of the network's input columns.
 */
export function featureNames(spec: SurrogateFeatureSpec): string[] {
  return [...spec.inputs.map((input) => input.name), ...spec.inputs.map((input) => `${input.name}Missing`)];
}

/** Values of the inputs found for one result; an absent name was missing. */
export type InputValues = Partial<Record<string, number>>;

/**
 * Encodes input values as a feature row: each value (the population default when missing), then each
 * missing-value indicator (1 when missing, else 0).
 * @param spec - The feature spec.
 * @param values - The inputs found.
 * @returns The raw feature row, unnormalised.
 */
export function encodeFeatures(spec: SurrogateFeatureSpec, values: InputValues): number[] {
  const row: number[] = [];
  const indicators: number[] = [];
  for (const input of spec.inputs) {
    const value = values[input.name];
    const present = value !== undefined && Number.isFinite(value);
    row.push(present ? value : input.populationDefault);
    indicators.push(present ? 0 : 1);
  }
  return [...row, ...indicators];
}

/**
 * Lists every LOINC code whose Observations may carry an input, for the FHIR search.
 * @param spec - The feature spec.
 * @returns Distinct codes.
 */
export function inputCodes(spec: SurrogateFeatureSpec): string[] {
  return [...new Set(spec.inputs.flatMap((input) => [...input.codes, ...(input.panelCodes ?? [])]))];
}

/**
 * Returns the clinically relevant time of an Observation: effectiveDateTime, else the start of
 * effectivePeriod, else `issued`.
 * @param observation - A vital sign or laboratory result.
 * @returns Milliseconds since the epoch, or undefined when it has no usable time.
 */
export function observationTimeMs(observation: Observation): number | undefined {
  const text = observation.effectiveDateTime ?? observation.effectivePeriod?.start ?? observation.issued;
  if (text === undefined) {
    return undefined;
  }
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : time;
}

/**
 * Picks each input's latest value at or before `atMs` and within the lookback.
 * @param spec - The feature spec.
 * @param observations - The patient's Observations of the input codes, in any order.
 * @param atMs - The AI result's effective time, in milliseconds since the epoch.
 * @returns The inputs found; absent names had no value in the lookback.
 */
export function pickInputsAt(
  spec: SurrogateFeatureSpec,
  observations: readonly Observation[],
  atMs: number
): InputValues {
  const earliestMs = atMs - spec.lookbackHours * 3_600_000;
  const found: InputValues = {};
  const foundAtMs: Partial<Record<string, number>> = {};

  for (const observation of observations) {
    const timeMs = observationTimeMs(observation);
    if (timeMs === undefined || timeMs > atMs || timeMs < earliestMs) {
      continue;
    }
    if (observation.status === 'entered-in-error' || observation.status === 'cancelled') {
      continue;
    }

    const codes = (observation.code.coding ?? []).filter((c) => c.system === LOINC).map((c) => c.code ?? '');
    for (const input of spec.inputs) {
      const value = inputValue(input, observation, codes);
      const previousMs = foundAtMs[input.name];
      if (value !== undefined && (previousMs === undefined || timeMs > previousMs)) {
        found[input.name] = value;
        foundAtMs[input.name] = timeMs;
      }
    }
  }
  return found;
}

function inputValue(
  input: SurrogateInputDefinition,
  observation: Observation,
  codes: readonly string[]
): number | undefined {
  const direct = observation.valueQuantity?.value;
  if (direct !== undefined && input.codes.some((code) => codes.includes(code))) {
    return direct;
  }
  if (input.componentCodes === undefined || !(input.panelCodes ?? []).some((code) => codes.includes(code))) {
    return undefined;
  }
  const component = observation.component?.find((part) =>
    (part.code.coding ?? []).some((c) => c.system === LOINC && input.componentCodes?.includes(c.code ?? ''))
  );
  return component?.valueQuantity?.value;
}
