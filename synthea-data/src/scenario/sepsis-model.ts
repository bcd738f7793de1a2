/**
 * The simulated `sepsis-risk` model: a fixed logistic function of vital signs and laboratory results.
 * The coefficients are invented for the demo and have no clinical validity.
 */

/** One model input: which LOINC codes feed it and the population default used when a patient has none. */
export interface SepsisInputDefinition {
  name: SepsisInputName;
  /** LOINC codes of Observations whose valueQuantity is the input. The newest Observation wins. */
  codes: string[];
  /** LOINC codes of a component inside a panel Observation, such as systolic BP in a BP panel. */
  componentCodes?: string[];
  /** UCUM unit that Synthea writes. Values are used without unit conversion. */
  unit: string;
  /** Adult population value used when the patient has no such Observation. */
  populationDefault: number;
}

export type SepsisInputName =
  'heartRate' | 'respiratoryRate' | 'temperature' | 'systolicBp' | 'wbc' | 'lactate' | 'creatinine';

/** Inputs of the model, in the order the score uses them. */
export const SEPSIS_INPUTS: readonly SepsisInputDefinition[] = [
  { name: 'heartRate', codes: ['8867-4'], unit: '/min', populationDefault: 80 },
  { name: 'respiratoryRate', codes: ['9279-1'], unit: '/min', populationDefault: 16 },
  // 8310-5 is body temperature, and Synthea also writes 8331-1 oral temperature.
  { name: 'temperature', codes: ['8310-5', '8331-1'], unit: 'Cel', populationDefault: 37 },
  // Systolic BP is a component (8480-6) of the BP panel 85354-9, or of 55284-4 in older Synthea output.
  {
    name: 'systolicBp',
    codes: ['8480-6'],
    componentCodes: ['8480-6'],
    unit: 'mm[Hg]',
    populationDefault: 120,
  },
  // 6690-2 is leukocytes in blood by automated count, and 26464-8 leukocytes in blood.
  { name: 'wbc', codes: ['6690-2', '26464-8'], unit: '10*3/uL', populationDefault: 7.5 },
  // 2524-7 is lactate in serum or plasma (mmol/L), and 32693-4 lactate in blood.
  { name: 'lactate', codes: ['2524-7', '32693-4'], unit: 'mmol/L', populationDefault: 1.2 },
  // 2160-0 is creatinine in serum or plasma, and Synthea writes 38483-4 creatinine in blood.
  { name: 'creatinine', codes: ['2160-0', '38483-4'], unit: 'mg/dL', populationDefault: 0.9 },
];

/** LOINC codes of the panels that carry systolic BP as a component. */
export const BLOOD_PRESSURE_PANEL_CODES = ['85354-9', '55284-4'];

/** Values of every input, with population defaults filled in. */
export type SepsisInputs = Record<SepsisInputName, number>;

/**
 * Returns the population default of every input.
 * @returns Inputs of an average adult.
 */
export function populationDefaults(): SepsisInputs {
  return Object.fromEntries(
    SEPSIS_INPUTS.map((input) => [input.name, input.populationDefault])
  ) as SepsisInputs;
}

/**
 * Computes the linear predictor of the model, before noise.
 * @param inputs - Vital signs and laboratory results.
 * @returns The log-odds of sepsis.
 */
export function sepsisLogit(inputs: SepsisInputs): number {
  return (
    -3.2 +
    0.04 * (inputs.heartRate - 75) +
    0.25 * (inputs.respiratoryRate - 16) +
    0.6 * Math.abs(inputs.temperature - 37) +
    0.03 * Math.max(0, 120 - inputs.systolicBp) +
    0.12 * Math.abs(inputs.wbc - 7.5) +
    0.5 * (inputs.lactate - 1.2) +
    0.6 * (inputs.creatinine - 0.9)
  );
}

/**
 * Converts log-odds to a probability.
 * @param logit - Log-odds.
 * @returns A probability in (0, 1).
 */
export function sigmoid(logit: number): number {
  return 1 / (1 + Math.exp(-logit));
}
