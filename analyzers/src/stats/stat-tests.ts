/**
 * The univariate drift tests by Evidently 0.7 name, with their default thresholds and decision rules
 * (`evidently/legacy/calculations/stattests/*.py`): p-value tests detect drift when p < threshold, distance
 * tests when the distance ≥ threshold. A NaN score never detects drift, as in Evidently.
 */
import { type ColumnType, type ColumnValue } from './binned-shares.js';
import { chiSquareTest } from './chi-square.js';
import { evidentlyPsi } from './evidently-psi.js';
import { hellingerDistance } from './hellinger.js';
import { evidentlyJensenShannon } from './jensen-shannon.js';
import { ksTwoSample } from './ks.js';
import { normedWassersteinDistance } from './wasserstein.js';
import { zTest } from './z-test.js';

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
  run(
    reference: readonly ColumnValue[],
    current: readonly ColumnValue[],
    columnType: ColumnType
  ): StatTestScore;
}

const BOTH: readonly ColumnType[] = ['numerical', 'categorical'];

// Evidently registers z and chisquare for categorical columns only, yet its automatic choice runs them on
// numerical columns with few values; they compare values as categories, so both types are accepted here.
const DEFINITIONS: Record<StatTestName, StatTestDefinition> = {
  ks: {
    name: 'ks',
    kind: 'p-value',
    defaultThreshold: 0.05,
    columnTypes: ['numerical'],
    run: (reference, current) => {
      const result = ksTwoSample(reference.map(Number), current.map(Number));
      return { statistic: result.statistic, score: result.pValue };
    },
  },
  z: {
    name: 'z',
    kind: 'p-value',
    defaultThreshold: 0.05,
    columnTypes: BOTH,
    run: (reference, current) => {
      const result = zTest(reference, current);
      return { statistic: result.statistic, score: result.pValue };
    },
  },
  chisquare: {
    name: 'chisquare',
    kind: 'p-value',
    defaultThreshold: 0.05,
    columnTypes: BOTH,
    run: (reference, current) => {
      const result = chiSquareTest(reference, current);
      return { statistic: result.statistic, score: result.pValue };
    },
  },
  wasserstein: {
    name: 'wasserstein',
    kind: 'distance',
    defaultThreshold: 0.1,
    columnTypes: ['numerical'],
    run: (reference, current) => {
      const distance = normedWassersteinDistance(reference.map(Number), current.map(Number));
      return { statistic: distance, score: distance };
    },
  },
  jensenshannon: {
    name: 'jensenshannon',
    kind: 'distance',
    defaultThreshold: 0.1,
    columnTypes: BOTH,
    run: (reference, current, columnType) => {
      const distance = evidentlyJensenShannon(reference, current, columnType);
      return { statistic: distance, score: distance };
    },
  },
  hellinger: {
    name: 'hellinger',
    kind: 'distance',
    defaultThreshold: 0.1,
    columnTypes: BOTH,
    run: (reference, current, columnType) => {
      const distance = hellingerDistance(reference, current, columnType);
      return { statistic: distance, score: distance };
    },
  },
  psi: {
    name: 'psi',
    kind: 'distance',
    defaultThreshold: 0.1,
    columnTypes: BOTH,
    run: (reference, current, columnType) => {
      const value = evidentlyPsi(reference, current, columnType);
      return { statistic: value, score: value };
    },
  },
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
