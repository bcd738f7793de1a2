/** Alert rule and settings parsing: the demo rules load and invalid input gets an error naming the fix. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadModelCatalog } from '@monitormed/common';
import { AlertRuleError } from './alert-rule-error.js';
import { loadPerformanceSettings } from './alerts-job.js';
import { loadNotificationSettings } from './notification-settings.js';
import { loadAlertRules, parseAlertRules } from './rules.js';

const validRule = {
  ruleId: 'r1',
  modelId: 'sepsis-risk',
  metric: 'performance-sensitivity',
  subgroups: ['all'],
  direction: 'below',
  threshold: 0.7,
  consecutiveWindows: 2,
  minN: 30,
  response: { owner: 'Committee', action: 'Review.' },
};

void describe('alert rules file', () => {
  void it('demo rules name catalog models', () => {
    const modelIds = new Set(loadModelCatalog().map((model) => model.modelId));
    const rules = loadAlertRules();
    assert.ok(rules.length > 0);
    for (const rule of rules) {
      assert.ok(modelIds.has(rule.modelId), `rule ${rule.ruleId} names unknown model ${rule.modelId}`);
      assert.ok(rule.response.owner.length > 0, `rule ${rule.ruleId} has no response owner`);
      assert.ok(rule.response.action.length > 0, `rule ${rule.ruleId} has no response action`);
    }
  });

  void it('invalid fields are rejected by name', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...validRule, direction: 'under' }, /direction must be "below" or "above"/],
      [{ ...validRule, consecutiveWindows: 0 }, /consecutiveWindows" must be an integer of at least 1/],
      [{ ...validRule, subgroups: [] }, /subgroups must be a non-empty array/],
      [{ ...validRule, response: { owner: 'x' } }, /field "action" must be a non-empty string/],
    ];
    for (const [rule, message] of cases) {
      assert.throws(
        () => parseAlertRules({ rules: [rule] }, 'rules.json'),
        (err: unknown) => err instanceof AlertRuleError && message.test(err.message)
      );
    }
    assert.throws(() => parseAlertRules({ rules: [validRule, validRule] }, 'rules.json'), /used twice/);
  });
});

void describe('alert settings from the environment', () => {
  void it('CBPE reference needs both days', () => {
    assert.throws(
      () => loadPerformanceSettings({ MONITORMED_CBPE_REFERENCE_FROM: '2026-01-01' }),
      /or neither/
    );
    assert.throws(
      () =>
        loadPerformanceSettings({
          MONITORMED_CBPE_REFERENCE_FROM: '2026-01-01',
          MONITORMED_CBPE_REFERENCE_TO: 'soon',
        }),
      /MONITORMED_CBPE_REFERENCE_TO must be a UTC day/
    );
    assert.deepEqual(loadPerformanceSettings({}), { minN: 30, eceBins: 10 });
  });

  void it('age bands must ascend', () => {
    assert.deepEqual(loadPerformanceSettings({ MONITORMED_AGE_BANDS: '20, 50' }).ageBands, [20, 50]);
    assert.throws(
      () => loadPerformanceSettings({ MONITORMED_AGE_BANDS: '50,20' }),
      /must be ascending whole years/
    );
  });

  void it('SMTP needs sender and recipients', () => {
    assert.throws(
      () => loadNotificationSettings({ MONITORMED_ALERT_SMTP_URL: 'smtp://127.0.0.1:2525' }),
      /EMAIL_FROM/
    );
    const settings = loadNotificationSettings({
      MONITORMED_ALERT_SMTP_URL: 'smtp://127.0.0.1:2525',
      MONITORMED_ALERT_EMAIL_FROM: 'a@example.org',
      MONITORMED_ALERT_EMAIL_TO: 'b@example.org, c@example.org',
    });
    assert.deepEqual(settings.email?.to, ['b@example.org', 'c@example.org']);
    assert.equal(settings.email.port, 2525);
  });
});
