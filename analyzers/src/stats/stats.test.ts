import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binaryEntropyBits, decisionMargin, isProbability } from './entropy.js';
import { kolmogorovFiniteSurvival } from './kolmogorov-n.js';
import { ksTwoSample } from './ks.js';
import { populationStabilityIndex, PSI_EMPTY_BIN_SHARE } from './psi.js';
import { generateSample, type SampleSpec } from '../testing/seeded-samples.js';

interface KsExpectation {
  name: string;
  sample1: SampleSpec;
  sample2: SampleSpec;
  statistic: number;
  pValue: number;
  method: 'exact' | 'asymptotic';
}

interface PsiExpectation {
  name: string;
  reference: SampleSpec;
  current: SampleSpec;
  value: number;
  bins: number;
}

interface Expectations {
  ks: KsExpectation[];
  kstwo: { n: number; x: number; survival: number }[];
  psi: PsiExpectation[];
  entropy: { probability: number; entropyBits: number }[];
}

// Written by analyzers/reference/make_expectations.py with SciPy and numpy.
const expectations = JSON.parse(
  readFileSync(new URL('../../reference/ks-expected.json', import.meta.url), 'utf8')
) as Expectations;

/** Asserts that `actual` lies within `relativeTolerance` · |expected| of `expected`. */
function assertClose(actual: number, expected: number, relativeTolerance: number, label: string): void {
  const scale = Math.max(Math.abs(expected), Number.MIN_VALUE);
  assert.ok(
    Math.abs(actual - expected) <= relativeTolerance * scale,
    `${label}: expected ${expected}, got ${actual} (relative tolerance ${relativeTolerance})`
  );
}

void describe('binary entropy', () => {
  void it('matches scipy.stats.entropy in bits', () => {
    for (const { probability, entropyBits } of expectations.entropy) {
      assertClose(binaryEntropyBits(probability), entropyBits, 1e-12, `H(${probability})`);
    }
  });

  void it('is 1 bit at 0.5 and 0 at the ends', () => {
    assert.equal(binaryEntropyBits(0.5), 1);
    assert.equal(binaryEntropyBits(0), 0);
    assert.equal(binaryEntropyBits(1), 0);
  });

  void it('default threshold 0.97 bits spans about 0.41..0.59', () => {
    assert.ok(binaryEntropyBits(0.41) >= 0.97);
    assert.ok(binaryEntropyBits(0.59) >= 0.97);
    assert.ok(binaryEntropyBits(0.39) < 0.97);
    assert.ok(binaryEntropyBits(0.61) < 0.97);
  });

  void it('margin is |2p − 1|', () => {
    assert.equal(decisionMargin(0.5), 0);
    assert.equal(decisionMargin(1), 1);
    assertClose(decisionMargin(0.2), 0.6, 1e-15, 'margin(0.2)');
  });

  void it('rejects values outside [0, 1]', () => {
    for (const bad of [-0.1, 1.5, Number.NaN, Infinity]) {
      assert.equal(isProbability(bad), false);
      assert.throws(() => binaryEntropyBits(bad), RangeError);
      assert.throws(() => decisionMargin(bad), RangeError);
    }
  });
});

void describe('two-sample KS test', () => {
  // The exact p-value uses scipy's lattice-path definition with another float64 evaluation order, so the
  // last bits may differ. A relative 1e-9 allows that and still catches an error in the band or recurrence.
  for (const expected of expectations.ks.filter((c) => c.method === 'exact')) {
    void it(`exact case matches scipy: ${expected.name}`, () => {
      const result = ksTwoSample(generateSample(expected.sample1), generateSample(expected.sample2));
      assert.equal(result.method, 'exact');
      assertClose(result.statistic, expected.statistic, 1e-12, 'statistic');
      assertClose(result.pValue, expected.pValue, 1e-9, 'p-value');
    });
  }

  // Above 10 000 values both scipy and this module use the finite-n distribution kstwo; see below.
  for (const expected of expectations.ks.filter((c) => c.method === 'asymptotic')) {
    void it(`asymptotic case matches scipy: ${expected.name}`, () => {
      const result = ksTwoSample(generateSample(expected.sample1), generateSample(expected.sample2));
      assert.equal(result.method, 'asymptotic');
      assertClose(result.statistic, expected.statistic, 1e-12, 'statistic');
      assertClose(result.pValue, expected.pValue, 1e-9, 'p-value');
    });
  }

  void it('identical samples give D = 0 and p = 1', () => {
    const result = ksTwoSample([0.1, 0.2, 0.3], [0.3, 0.2, 0.1]);
    assert.equal(result.statistic, 0);
    assert.equal(result.pValue, 1);
  });

  void it('rejects an empty or non-finite sample', () => {
    assert.throws(() => ksTwoSample([], [0.1]), /at least one value/);
    assert.throws(() => ksTwoSample([0.1], [Number.NaN]), /not a finite number/);
  });
});

void describe('finite-n Kolmogorov distribution', () => {
  // The points reach every method scipy's kstwo.sf chooses. Sums of logarithms lose a little relative
  // precision in extreme tails, so the tolerance is 1e-9 relative. The worst point measured 2.5e-11.
  void it('matches scipy kstwo.sf on all methods', () => {
    for (const { n, x, survival } of expectations.kstwo) {
      assertClose(kolmogorovFiniteSurvival(n, x), survival, 1e-9, `kstwo.sf(${x}, ${n})`);
    }
  });

  void it('rejects a non-integer sample size', () => {
    assert.throws(() => kolmogorovFiniteSurvival(2.5, 0.1), RangeError);
  });
});

void describe('population stability index', () => {
  for (const expected of expectations.psi) {
    void it(`matches numpy-based Evidently PSI: ${expected.name}`, () => {
      const result = populationStabilityIndex(
        generateSample(expected.reference),
        generateSample(expected.current)
      );
      assert.equal(result.binEdges.length - 1, expected.bins);
      assertClose(result.value, expected.value, 1e-12, 'PSI');
    });
  }

  void it('fills empty bins with 0.0001', () => {
    const result = populationStabilityIndex([0, 0, 0, 0], [1, 1, 1, 1]);
    assert.ok(result.referenceShares.includes(PSI_EMPTY_BIN_SHARE));
    assert.ok(result.currentShares.includes(PSI_EMPTY_BIN_SHARE));
  });
});
