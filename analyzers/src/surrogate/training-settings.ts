/**
 * The training settings a user may set, on the train-surrogate command or in a training job, with one set
 * of validity rules for both.
 */

/**
 * The training hyperparameters a request may set, as options of trainSurrogate(); the others keep the
 * defaults of train.ts.
 */
export interface SurrogateTrainingSettings {
  /** Units of each hidden layer. */
  hiddenSizes?: number[];
  dropoutRate?: number;
  seed?: number;
  maxEpochs?: number;
}

/** Validity rule of one numeric setting, with the expected value in words for error messages. */
export interface SettingRule {
  isValid(value: number): boolean;
  expected: string;
}

/** Rules of the numeric settings of a training, and of the input lookback. */
export const TRAINING_SETTING_RULES = {
  hiddenSize: {
    isValid: (value: number) => Number.isInteger(value) && value >= 1 && value <= 512,
    expected: 'whole numbers of units from 1 to 512',
  },
  dropoutRate: {
    isValid: (value: number) => value > 0 && value < 1,
    expected: 'a dropout rate above 0 and below 1',
  },
  seed: { isValid: (value: number) => Number.isInteger(value), expected: 'a whole number' },
  maxEpochs: {
    isValid: (value: number) => Number.isInteger(value) && value >= 1,
    expected: 'a whole number of epochs, at least 1',
  },
  lookbackHours: { isValid: (value: number) => value > 0, expected: 'a number of hours above 0' },
} satisfies Record<string, SettingRule>;

const isValidNumber = (value: unknown, rule: SettingRule): boolean =>
  typeof value === 'number' && Number.isFinite(value) && rule.isValid(value);

/**
 * Checks settings that come from outside the process, such as a job payload read from Redis.
 * @param settings - The value to check.
 * @returns A message naming the first invalid field and the expected value, or undefined when valid.
 */
export function findInvalidTrainingSetting(settings: unknown): string | undefined {
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    return `training is ${JSON.stringify(settings)}; expected an object.`;
  }
  const known = new Set(['hiddenSizes', 'dropoutRate', 'seed', 'maxEpochs']);
  const unknown = Object.keys(settings).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    return `training has unknown field(s) ${unknown.join(', ')}; expected ${[...known].join(', ')}.`;
  }

  const { hiddenSizes, dropoutRate, seed, maxEpochs } = settings as Record<string, unknown>;
  if (
    hiddenSizes !== undefined &&
    !(
      Array.isArray(hiddenSizes) &&
      hiddenSizes.length > 0 &&
      hiddenSizes.every((size) => isValidNumber(size, TRAINING_SETTING_RULES.hiddenSize))
    )
  ) {
    return `training.hiddenSizes is ${JSON.stringify(hiddenSizes)}; expected a non-empty list of ${TRAINING_SETTING_RULES.hiddenSize.expected}.`;
  }
  const numbers: [string, unknown, SettingRule][] = [
    ['dropoutRate', dropoutRate, TRAINING_SETTING_RULES.dropoutRate],
    ['seed', seed, TRAINING_SETTING_RULES.seed],
    ['maxEpochs', maxEpochs, TRAINING_SETTING_RULES.maxEpochs],
  ];
  for (const [name, value, rule] of numbers) {
    if (value !== undefined && !isValidNumber(value, rule)) {
      return `training.${name} is ${JSON.stringify(value)}; expected ${rule.expected}.`;
    }
  }
  return undefined;
}
