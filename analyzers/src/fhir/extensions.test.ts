import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildDriftExtension, hasSameDriftVerdict, type DriftStatus } from './extensions.js';

const status: DriftStatus = {
  statistic: 0.4,
  pValue: 0.056,
  threshold: 0.01,
  window: '2026-03-05',
  reference: { windows: ['2026-03-02', '2026-03-03', '2026-03-04'], n: 120 },
  detected: false,
};

void describe('hasSameDriftVerdict', () => {
  const stored = [{ url: 'https://example.org/other', valueString: 'kept' }, buildDriftExtension(status)];

  void it('needs no write when only the statistic and p-value moved', () => {
    const later = buildDriftExtension({ ...status, statistic: 0.14, pValue: 0.56 });
    assert.equal(hasSameDriftVerdict(stored, later), true);
  });

  void it('needs a write when the verdict, threshold or reference changed', () => {
    assert.equal(hasSameDriftVerdict(stored, buildDriftExtension({ ...status, detected: true })), false);
    assert.equal(hasSameDriftVerdict(stored, buildDriftExtension({ ...status, threshold: 1e-30 })), false);
    const grown = { windows: status.reference.windows, n: 118 };
    assert.equal(hasSameDriftVerdict(stored, buildDriftExtension({ ...status, reference: grown })), false);
  });

  void it('needs a write when no drift extension is stored', () => {
    assert.equal(hasSameDriftVerdict(stored.slice(0, 1), buildDriftExtension(status)), false);
    assert.equal(hasSameDriftVerdict(undefined, buildDriftExtension(status)), false);
  });
});
