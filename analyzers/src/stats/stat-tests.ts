/**
 * The univariate drift tests by Evidently 0.7 name, with their default thresholds and decision rules
 * (`evidently/legacy/calculations/stattests/*.py`): p-value tests detect drift when p < threshold, distance
 * tests when the distance ≥ threshold. A NaN score never detects drift, as in Evidently.
 */
import { chiSquareTestOf } from './chi-square.js';
import { ColumnSamples, type ColumnType, type SampleValues } from './column-samples.js';
import { evidentlyPsiOf } from './evidently-psi.js';
import { hellingerDistanceOf } from './hellinger.js';
import { evidentlyJensenShannonOf } from './jensen-shannon.js';
import { ksTwoSampleOf } from './ks.js';
import { normedWassersteinDistanceOf } from './wasserstein.js';
import { zTestOf } from './z-test.js';

/** Test names as Evidently registers them. */
export const STAT_TEST_NAMES = [
  'ks',
  'z',
  'chisquare',
  'wasserstein',
  'jensenshannon',
  'hellinger',
  'psi',
] as const;

/** An Evidently test name. */
export type StatTestName = (typeof STAT_TEST_NAMES)[number];

/** Whether a test's score is a p-value (small means drift) or a distance (large means drift). */
export type ScoreKind = 'p-value' | 'distance';

/** Outcome of one test before the threshold is applied. */
export interface StatTestScore {
  /** The test statistic (D, z, χ²) or, for distances, the distance itself; null when not computed. */
  statistic: number | null;
  /** The p-value or the distance. */
  score: number;
}

/** A registered drift test. */
export interface StatTestDefinition {
  name: StatTestName;
  kind: ScoreKind;
  defaultThreshold: number;
  /** Column types the test accepts. */
  columnTypes: readonly ColumnType[];
  /** Scores prepared samples; tests on one column share its sort and value counts this way. */
  score(samples: ColumnSamples): StatTestScore;
  /** Scores two samples without missing values. */
  run(reference: SampleValues, current: SampleValues, columnType: ColumnType): StatTestScore;
}

const BOTH: readonly ColumnType[] = ['numerical', 'categorical'];

function define(definition: Omit<StatTestDefinition, 'run'>): StatTestDefinition {
  return {
    ...definition,
    run: (reference, current, columnType) =>
      definition.score(ColumnSamples.of(reference, current, columnType)),
  };
}

function distance(value: number): StatTestScore {
  return { statistic: value, score: value };
}

// Evidently registers z and chisquare for categorical columns only, yet its automatic choice runs them on
// numerical columns with few values; they compare values as categories, so both types are accepted here.
const DEFINITIONS: Record<StatTestName, StatTestDefinition> = {
  ks: define({
    name: 'ks',
    kind: 'p-value',
    defaultThreshold: 0.05,
    columnTypes: ['numerical'],
    score: (samples) => {
      const result = ksTwoSampleOf(samples);
      return { statistic: result.statistic, score: result.pValue };
    },
  }),
  z: define({
    name: 'z',
    kind: 'p-value',
    defaultThreshold: 0.05,
    columnTypes: BOTH,
    score: (samples) => {
      const result = zTestOf(samples);
      return { statistic: result.statistic, score: result.pValue };
    },
  }),
  chisquare: define({
    name: 'chisquare',
    kind: 'p-value',
    defaultThreshold: 0.05,
    columnTypes: BOTH,
    score: (samples) => {
      const result = chiSquareTestOf(samples);
      return { statistic: result.statistic, score: result.pValue };
    },
  }),
  wasserstein: define({
    name: 'wasserstein',
    kind: 'distance',
    defaultThreshold: 0.1,
    columnTypes: ['numerical'],
    score: (samples) => distance(normedWassersteinDistanceOf(samples)),
  }),
  jensenshannon: define({
    name: 'jensenshannon',
    kind: 'distance',
    defaultThreshold: 0.1,
    columnTypes: BOTH,
    score: (samples) => distance(evidentlyJensenShannonOf(samples)),
  }),
  hellinger: define({
    name: 'hellinger',
    kind: 'distance',
    defaultThreshold: 0.1,
    columnTypes: BOTH,
    score: (samples) => distance(hellingerDistanceOf(samples)),
  }),
  psi: define({
    name: 'psi',
    kind: 'distance',
    defaultThreshold: 0.1,
    columnTypes: BOTH,
    score: (samples) => distance(evidentlyPsiOf(samples)),
  }),
};

/**
 * Tells whether a string is a known test name.
 * @param name - Any string.
 * @returns True for one of {@link STAT_TEST_NAMES}.
 */
export function isStatTestName(name: string): name is StatTestName {
  return (STAT_TEST_NAMES as readonly string[]).includes(name);
}

/**
 * Returns the definition of a test.
 * @param name - A test name.
 * @returns Its definition.
 */
export function getStatTest(name: StatTestName): StatTestDefinition {
  return DEFINITIONS[name];
}

/**
 * Applies a test's decision rule.
 * @param kind - Score kind.
 * @param score - p-value or distance.
 * @param threshold - The threshold.
 * @returns True when the score means drift; false for NaN.
 */
export function isDrift(kind: ScoreKind, score: number, threshold: number): boolean {
  return kind === 'p-value' ? score < threshold : score >= threshold;
}
