/** The entropy and margin rules, and how UNCERTAINTY_EXTENSION records and reads them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Extension } from '@medplum/fhirtypes';
import { UNCERTAINTY_EXTENSION } from '@monitormed/common';
import {
  ANALYZER_VERSION,
  buildDriftExtension,
  buildUncertaintyExtension,
  readDriftReference,
  readUncertainty,
} from '../fhir/extensions.js';
import { binaryEntropyBits } from '../stats/entropy.js';
import { assessUncertainty } from './high-uncertainty.js';

const DEFAULT_LIMITS = { entropyThresholdBits: 0.97, marginWidth: 0.1 };

function codes(extension: Extension, url: string): (string | undefined)[] {
  return (extension.extension ?? []).filter((part) => part.url === url).map((part) => part.valueCode);
}

void describe('high-uncertainty rules', () => {
  void it('rules fire by probability', () => {
    // H(0.45) = 0.9928 and H(0.41) = 0.9765 bits, both at or above 0.97; H(0.4) = 0.9710.
    const cases: [number, string[]][] = [
      [0.5, ['entropy', 'margin']],
      [0.46, ['entropy', 'margin']],
      [0.45, ['entropy']],
      [0.55, ['entropy']],
      [0.4, ['entropy']],
      [0.6, ['entropy']],
      [0.2, []],
      [0, []],
      [1, []],
    ];
    for (const [probability, expected] of cases) {
      assert.deepEqual(
        assessUncertainty(probability, DEFAULT_LIMITS).flaggedBy,
        expected,
        `p = ${probability}`
      );
    }
  });

  void it('margin alone fires under a high threshold', () => {
    const assessment = assessUncertainty(0.47, { entropyThresholdBits: 0.999, marginWidth: 0.1 });
    assert.deepEqual(assessment.flaggedBy, ['margin']);
    assert.ok(Math.abs(assessment.margin - 0.06) < 1e-12, `margin ${assessment.margin}`);
    assert.equal(assessment.entropyBits, binaryEntropyBits(0.47));
    assert.equal(assessment.entropyThresholdBits, 0.999);
    assert.equal(assessment.marginWidth, 0.1);
  });

  void it('margin equal to width does not fire', () => {
    // |2p − 1| is 0.09999999999999998 for 0.45 and 0.10000000000000009 for 0.55 in floating point.
    for (const probability of [0.45, 0.55, 0.35, 0.65]) {
      const limits = { entropyThresholdBits: 1, marginWidth: Math.abs(2 * probability - 1) };
      assert.deepEqual(assessUncertainty(probability, limits).flaggedBy, [], `p = ${probability}`);
    }
    for (const probability of [0.45, 0.55]) {
      const limits = { entropyThresholdBits: 1, marginWidth: 0.1 };
      assert.deepEqual(assessUncertainty(probability, limits).flaggedBy, [], `p = ${probability}`);
    }
  });

  void it('width 0 turns the margin rule off', () => {
    const assessment = assessUncertainty(0.5, { entropyThresholdBits: 1.0, marginWidth: 0 });
    assert.deepEqual(assessment.flaggedBy, ['entropy']);
    assert.deepEqual(assessUncertainty(0.5, { entropyThresholdBits: 1.01, marginWidth: 0 }).flaggedBy, []);
  });

  void it('invalid probability throws', () => {
    for (const bad of [-0.1, 1.1, Number.NaN]) {
      assert.throws(() => assessUncertainty(bad, DEFAULT_LIMITS), RangeError, String(bad));
    }
  });
});

void describe('uncertainty extension', () => {
  void it('records margin, limits and rules', () => {
    const assessment = assessUncertainty(0.48, DEFAULT_LIMITS);
    const extension = buildUncertaintyExtension(assessment);
    assert.equal(extension.url, UNCERTAINTY_EXTENSION);
    assert.deepEqual(codes(extension, 'method'), ['entropy', 'margin']);
    assert.deepEqual(codes(extension, 'flaggedBy'), ['entropy', 'margin']);

    const recorded = readUncertainty([extension]);
    assert.ok(recorded !== undefined);
    assert.equal(recorded.entropyBits, binaryEntropyBits(0.48));
    assert.equal(recorded.analyzerVersion, ANALYZER_VERSION);
    assert.deepEqual(recorded.methods, ['entropy', 'margin']);
    assert.equal(recorded.margin, assessment.margin);
    assert.deepEqual(recorded.rules, {
      entropyThresholdBits: 0.97,
      marginWidth: 0.1,
      flaggedBy: ['entropy', 'margin'],
    });
    assert.equal(recorded.mutualInformationBits, undefined);
  });

  void it('unflagged result records no rule', () => {
    const extension = buildUncertaintyExtension(assessUncertainty(0.1, DEFAULT_LIMITS));
    assert.deepEqual(codes(extension, 'flaggedBy'), []);
    assert.deepEqual(readUncertainty([extension])?.rules?.flaggedBy, []);
  });

  void it('MC dropout puts its methods first and last', () => {
    const extension = buildUncertaintyExtension(assessUncertainty(0.7, DEFAULT_LIMITS), {
      mean: 0.71,
      std: 0.08,
      predictiveEntropyBits: 0.869,
      expectedEntropyBits: 0.84,
      mutualInformationBits: 0.029,
      samples: 30,
      surrogateVersion: 2,
    });
    assert.deepEqual(codes(extension, 'method'), ['mc-dropout', 'entropy', 'margin', 'mutual-information']);
    const recorded = readUncertainty([extension]);
    assert.equal(recorded?.mutualInformationBits, 0.029);
    assert.equal(recorded.methods[0], 'mc-dropout');
  });

  void it('older extension has no rules', () => {
    const older: Extension = {
      url: UNCERTAINTY_EXTENSION,
      extension: [
        { url: 'method', valueCode: 'entropy' },
        { url: 'value', valueDecimal: 0.99 },
        { url: 'analyzerVersion', valueString: ANALYZER_VERSION },
      ],
    };
    const recorded = readUncertainty([older]);
    assert.equal(recorded?.entropyBits, 0.99);
    assert.equal(recorded.rules, undefined);
    assert.equal(recorded.margin, undefined);
  });
});

void describe('drift extension reference', () => {
  const status = {
    statistic: 0.4,
    pValue: 0.001,
    threshold: 0.01,
    window: '2026-03-14',
    reference: { windows: ['2026-03-01', '2026-03-02', '2026-03-03'], n: 120 },
    detected: true,
  };

  void it('reference round trip', () => {
    const extension = buildDriftExtension(status);
    const reference = extension.extension?.find((part) => part.url === 'reference');
    assert.deepEqual(
      reference?.extension?.map((part) => part.url),
      ['window', 'window', 'window', 'n']
    );
    assert.deepEqual(readDriftReference([extension]), status.reference);
  });

  void it('missing reference reads undefined', () => {
    const extension = buildDriftExtension(status);
    const withoutReference: Extension = {
      ...extension,
      extension: extension.extension?.filter((part) => part.url !== 'reference'),
    };
    assert.equal(readDriftReference([withoutReference]), undefined);
    assert.equal(readDriftReference(undefined), undefined);
  });
});
