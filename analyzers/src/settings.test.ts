/** Analyzer settings from environment variables: the margin width of the high-uncertainty rule. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@monitormed/common';
import { loadAnalyzerSettings } from './settings.js';

void describe('analyzer settings', () => {
  void it('margin width defaults to 0.1', () => {
    assert.equal(loadAnalyzerSettings({}).uncertaintyMarginWidth, 0.1);
    assert.equal(loadAnalyzerSettings({ UNCERTAINTY_MARGIN_WIDTH: '' }).uncertaintyMarginWidth, 0.1);
  });

  void it('margin width reads 0 to 1', () => {
    for (const [raw, expected] of [
      ['0', 0],
      ['0.25', 0.25],
      ['1', 1],
    ] as const) {
      assert.equal(loadAnalyzerSettings({ UNCERTAINTY_MARGIN_WIDTH: raw }).uncertaintyMarginWidth, expected);
    }
  });

  void it('invalid margin width is rejected', () => {
    for (const raw of ['-0.1', '1.5', 'wide', 'NaN', 'Infinity']) {
      assert.throws(
        () => loadAnalyzerSettings({ UNCERTAINTY_MARGIN_WIDTH: raw }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.message.includes(`UNCERTAINTY_MARGIN_WIDTH="${raw}"`) &&
          err.message.includes('from 0 (rule off) to 1'),
        raw
      );
    }
  });
});
