import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseExplanation } from './explain-flag.js';

void describe('explain-flag parsing', () => {
  void it('reads model, reason and numbers', () => {
    const explanation = parseExplanation({
      resourceType: 'Parameters',
      parameter: [
        { name: 'result', valueReference: { reference: 'Observation/7' } },
        { name: 'flagged', valueBoolean: true },
        {
          name: 'model',
          part: [
            { name: 'modelVersion', valueString: '2.1.0' },
            { name: 'name', valueString: 'Sepsis model' },
          ],
        },
        {
          name: 'flag',
          part: [
            { name: 'resource', valueReference: { reference: 'Flag/9' } },
            { name: 'code', valueCoding: { code: 'model-drift', display: 'Model drift detected' } },
            { name: 'status', valueCode: 'active' },
            { name: 'reason', valueString: 'p below the threshold' },
            { name: 'pValue', valueDecimal: 0.000712345 },
            { name: 'window', valueString: '2026-02-05' },
            { name: 'detected', valueBoolean: true },
          ],
        },
      ],
    });
    assert.equal(explanation.flagged, true);
    assert.deepEqual(explanation.model, { name: 'Sepsis model', version: '2.1.0' });
    assert.equal(explanation.flags.length, 1);
    const [flag] = explanation.flags;
    assert.ok(flag);
    assert.equal(flag.code, 'Model drift detected');
    assert.equal(flag.reason, 'p below the threshold');
    assert.deepEqual(flag.details, [
      { name: 'pValue', value: '0.0007123' },
      { name: 'window', value: '2026-02-05' },
      { name: 'detected', value: 'yes' },
    ]);
  });

  void it('shows margin rule and numbers', () => {
    const explanation = parseExplanation({
      resourceType: 'Parameters',
      parameter: [
        { name: 'flagged', valueBoolean: true },
        {
          name: 'flag',
          part: [
            { name: 'resource', valueReference: { reference: 'Flag/10' } },
            { name: 'code', valueCoding: { code: 'high-uncertainty', display: 'High uncertainty' } },
            { name: 'status', valueCode: 'active' },
            { name: 'reason', valueString: 'The margin is below the margin width of 0.1.' },
            { name: 'method', valueCode: 'entropy' },
            { name: 'method', valueCode: 'margin' },
            { name: 'rule', valueCode: 'margin' },
            { name: 'value', valueDecimal: 0.9974015885677396 },
            { name: 'threshold', valueDecimal: 0.999 },
            { name: 'margin', valueDecimal: 0.06000000000000005 },
            { name: 'marginWidth', valueDecimal: 0.1 },
          ],
        },
      ],
    });
    const [flag] = explanation.flags;
    assert.ok(flag);
    assert.equal(flag.reason, 'The margin is below the margin width of 0.1.');
    assert.deepEqual(flag.details, [
      { name: 'method', value: 'entropy' },
      { name: 'method', value: 'margin' },
      { name: 'rule', value: 'margin' },
      { name: 'value', value: '0.9974' },
      { name: 'threshold', value: '0.999' },
      { name: 'margin', value: '0.06' },
      { name: 'marginWidth', value: '0.1' },
    ]);
  });

  void it('keeps messages without a model', () => {
    const explanation = parseExplanation({
      resourceType: 'Parameters',
      parameter: [
        { name: 'flagged', valueBoolean: false },
        { name: 'message', valueString: 'no monitoring Flag' },
      ],
    });
    assert.equal(explanation.flagged, false);
    assert.equal(explanation.model, undefined);
    assert.deepEqual(explanation.messages, ['no monitoring Flag']);
    assert.deepEqual(explanation.flags, []);
  });
});
