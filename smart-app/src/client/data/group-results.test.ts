import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AiResultRow } from '../results.js';
import { groupResultsByModel } from './group-results.js';

function row(observationId: string, modelName: string, modelVersion: string | undefined): AiResultRow {
  return {
    observationId,
    modelName,
    modelVersion,
    effectiveDateTime: undefined,
    probability: undefined,
    interpretation: undefined,
    confidence: undefined,
    uncertaintyBits: undefined,
    drift: undefined,
    flags: [],
  };
}

void describe('results grouped by model', () => {
  void it('keeps search order within groups', () => {
    const groups = groupResultsByModel([
      row('3', 'Sepsis', '2.1.0'),
      row('2', 'CXR', undefined),
      row('1', 'Sepsis', '2.1.0'),
      row('0', 'Sepsis', '2.0.0'),
    ]);
    assert.deepEqual(
      groups.map((group) => [group.label, group.rows.map((r) => r.observationId)]),
      [
        ['Sepsis v2.1.0', ['3', '1']],
        ['CXR', ['2']],
        ['Sepsis v2.0.0', ['0']],
      ]
    );
  });
});
