import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { buildComplianceReportParameters, complianceReportPath, pdfOf } from './compliance-report.js';
import {
  alertsOf,
  parseMonitoringSummary,
  seriesOf,
  subgroupComparison,
  volumeSeries,
} from './monitoring-summary.js';
import { parseRoute } from '../views/route.js';

function metric(
  name: string,
  category: string,
  value: number,
  status: string,
  threshold?: number
): ParametersParameter {
  return {
    name: 'metric',
    part: [
      { name: 'name', valueString: name },
      { name: 'category', valueCode: category },
      { name: 'value', valueDecimal: value },
      { name: 'n', valueInteger: 20 },
      ...(threshold === undefined ? [] : [{ name: 'threshold', valueDecimal: threshold }]),
      { name: 'status', valueCode: status },
    ],
  };
}

function window(
  day: string,
  subgroup: string,
  volume: number,
  metrics: ParametersParameter[]
): ParametersParameter {
  return {
    name: 'window',
    part: [
      { name: 'window', valueString: day },
      { name: 'start', valueDateTime: `${day}T00:00:00.000Z` },
      { name: 'subgroup', valueString: subgroup },
      { name: 'volume', valueInteger: volume },
      ...metrics,
    ],
  };
}

const SUMMARY: Parameters = {
  resourceType: 'Parameters',
  parameter: [
    { name: 'status', valueCode: 'critical' },
    { name: 'rule', valueString: 'critical: output-drift-ks in window 2026-01-02' },
    { name: 'modelId', valueString: 'sepsis-risk' },
    { name: 'modelVersion', valueString: '2.1.0' },
    { name: 'granularity', valueCode: 'day' },
    { name: 'volume', valueInteger: 50 },
    // Newest window first, to check that series are sorted oldest first.
    window('2026-01-02', 'all', 30, [
      metric('output-drift-ks', 'drift', 0.001, 'critical', 0.05),
      metric('uncertainty-entropy-mean', 'uncertainty', 0.5, 'ok', 0.97),
    ]),
    window('2026-01-01', 'all', 20, [metric('output-drift-ks', 'drift', 0.4, 'ok', 0.05)]),
    window('2026-01-01', 'sex:female', 9, [metric('uncertainty-entropy-mean', 'uncertainty', 0.2, 'ok')]),
    window('2026-01-02', 'sex:female', 12, [metric('uncertainty-entropy-mean', 'uncertainty', 0.3, 'ok')]),
  ],
};

void describe('monitoring summary parsing', () => {
  void it('reads status, volume and windows', () => {
    const summary = parseMonitoringSummary(SUMMARY);
    assert.equal(summary.status, 'critical');
    assert.equal(summary.modelVersion, '2.1.0');
    assert.equal(summary.volume, 50);
    assert.equal(summary.windows.length, 4);
    assert.equal(summary.windows[0]?.metrics[0]?.threshold, 0.05);
  });

  void it('rejects a missing status', () => {
    assert.throws(
      () => parseMonitoringSummary({ resourceType: 'Parameters', parameter: [] }),
      /invalid status "undefined"/
    );
  });

  void it('lists alerts newest first', () => {
    const alerts = alertsOf(parseMonitoringSummary(SUMMARY));
    assert.deepEqual(
      alerts.map((alert) => `${alert.window} ${alert.name} ${alert.status}`),
      ['2026-01-02 output-drift-ks critical']
    );
  });

  void it('builds series oldest first', () => {
    const summary = parseMonitoringSummary(SUMMARY);
    const drift = seriesOf(summary, 'drift');
    assert.deepEqual(drift.metrics, ['output-drift-ks']);
    assert.deepEqual(
      drift.rows.map((row) => [row.window, row['output-drift-ks']]),
      [
        ['2026-01-01', 0.4],
        ['2026-01-02', 0.001],
      ]
    );
    assert.equal(drift.thresholds.get('output-drift-ks'), 0.05);
    assert.deepEqual(volumeSeries(summary), [
      { window: '2026-01-01', volume: 20 },
      { window: '2026-01-02', volume: 30 },
    ]);
  });

  void it('compares the newest window per subgroup', () => {
    const rows = subgroupComparison(parseMonitoringSummary(SUMMARY), 'uncertainty-entropy-mean');
    assert.deepEqual(rows, [{ subgroup: 'sex:female', window: '2026-01-02', value: 0.3, n: 20 }]);
  });
});

void describe('compliance report request', () => {
  void it('adds one signOff per name', () => {
    const body = buildComplianceReportParameters({
      start: '2026-01-01',
      end: '2026-02-01',
      signOff: 'A B, ,C',
    });
    assert.deepEqual(body.parameter, [
      { name: 'start', valueDate: '2026-01-01' },
      { name: 'end', valueDate: '2026-02-01' },
      { name: 'signOff', valueString: 'A B' },
      { name: 'signOff', valueString: 'C' },
    ]);
    assert.equal(complianceReportPath('12'), 'Device/12/$compliance-report');
  });

  void it('decodes the PDF attachment', () => {
    const data = Buffer.from('%PDF-1.7 test').toString('base64');
    const pdf = pdfOf({
      resourceType: 'DiagnosticReport',
      status: 'final',
      code: {},
      presentedForm: [{ contentType: 'application/pdf', data }],
    });
    assert.equal(Buffer.from(pdf ?? []).toString('latin1'), '%PDF-1.7 test');
    assert.equal(pdfOf({ resourceType: 'DiagnosticReport', status: 'final', code: {} }), undefined);
  });
});

void describe('view routes', () => {
  void it('parses each fragment', () => {
    assert.deepEqual(parseRoute('#/inventory'), { view: 'inventory' });
    assert.deepEqual(parseRoute('#/models/42'), { view: 'dashboard', deviceId: '42' });
    assert.deepEqual(parseRoute('#/models/42/report'), { view: 'report', deviceId: '42' });
    assert.deepEqual(parseRoute(''), { view: 'patient' });
    assert.deepEqual(parseRoute('#/models/bad id'), { view: 'patient' });
  });
});
