import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import {
  alertTimeline,
  metricStatuses,
  outputDistribution,
  performancePanels,
  quantileName,
} from './dashboard-series.js';
import { formatMetricValue } from '../format.js';
import { createLimiter } from './inventory.js';
import { parseMonitoringSummary } from './monitoring-summary.js';

function metric(
  name: string,
  category: string,
  value: number,
  extra: ParametersParameter[] = [],
  status = 'info'
): ParametersParameter {
  return {
    name: 'metric',
    part: [
      { name: 'name', valueString: name },
      { name: 'category', valueCode: category },
      { name: 'value', valueDecimal: value },
      { name: 'n', valueInteger: 40 },
      ...extra,
      { name: 'status', valueCode: status },
    ],
  };
}

function quantiles(values: number[]): ParametersParameter[] {
  return [0.1, 0.25, 0.5, 0.75, 0.9].map((probability, index) => ({
    name: 'outputQuantile',
    part: [
      { name: 'probability', valueDecimal: probability },
      { name: 'value', valueDecimal: values[index] },
    ],
  }));
}

function window(day: string, parts: ParametersParameter[]): ParametersParameter {
  return {
    name: 'window',
    part: [
      { name: 'window', valueString: day },
      { name: 'subgroup', valueString: 'all' },
      { name: 'volume', valueInteger: 40 },
      ...parts,
    ],
  };
}

const interval = (lower: number, upper: number): ParametersParameter[] => [
  { name: 'lower', valueDecimal: lower },
  { name: 'upper', valueDecimal: upper },
];

const SUMMARY: Parameters = {
  resourceType: 'Parameters',
  parameter: [
    { name: 'status', valueCode: 'critical' },
    { name: 'volume', valueInteger: 80 },
    window('2026-03-07', [
      metric('output-score-mean', 'other', 0.31),
      metric('output-drift-ks', 'drift', 1e-9, [{ name: 'threshold', valueDecimal: 0.01 }], 'critical'),
      metric('performance-specificity', 'performance', 0.7, [
        ...interval(0.55, 0.82),
        { name: 'estimated', valueBoolean: false },
      ]),
      metric('cbpe-specificity', 'performance', 0.93, [
        ...interval(0.9, 0.96),
        { name: 'estimated', valueBoolean: true },
      ]),
      ...quantiles([0.1, 0.18, 0.3, 0.42, 0.55]),
    ]),
    window('2026-03-06', [
      metric('output-score-mean', 'other', 0.12),
      metric('output-drift-ks', 'drift', 0.4, [{ name: 'threshold', valueDecimal: 0.01 }], 'ok'),
      metric('performance-specificity', 'performance', 0.95, [
        ...interval(0.83, 0.99),
        { name: 'estimated', valueBoolean: false },
      ]),
      ...quantiles([0.02, 0.04, 0.07, 0.12, 0.2]),
    ]),
    {
      name: 'alert',
      part: [
        { name: 'window', valueString: '2026-03-07' },
        { name: 'kind', valueCode: 'opened' },
        { name: 'ruleId', valueString: 'specificity-low' },
        { name: 'metric', valueString: 'performance-specificity' },
        { name: 'subgroup', valueString: 'all' },
        { name: 'direction', valueCode: 'below' },
        { name: 'threshold', valueDecimal: 0.8 },
        { name: 'value', valueDecimal: 0.7 },
        { name: 'n', valueInteger: 40 },
        { name: 'responseOwner', valueString: 'Radiology quality lead' },
        { name: 'responseAction', valueString: 'Audit the false positives.' },
        { name: 'recorded', valueDateTime: '2026-03-08T01:00:00.000Z' },
      ],
    },
    {
      name: 'feedback',
      part: [
        { name: 'day', valueString: '2026-03-07' },
        { name: 'accepted', valueInteger: 3 },
        { name: 'overridden', valueInteger: 1 },
        { name: 'overrideRate', valueDecimal: 0.25 },
      ],
    },
  ],
};

void describe('dashboard series', () => {
  const summary = parseMonitoringSummary(SUMMARY);

  void it('names quantiles by percentile', () => {
    assert.equal(quantileName(0.1), 'p10');
    assert.equal(quantileName(0.5), 'p50');
  });

  void it('formats metric values', () => {
    assert.equal(formatMetricValue(0.123456), '0.1235');
    assert.equal(formatMetricValue(8.107897283305778e-16), '8.108e-16');
    assert.equal(formatMetricValue(undefined), '–');
    assert.equal(formatMetricValue('n/a'), 'n/a');
  });

  void it('orders the output distribution', () => {
    const rows = outputDistribution(summary);
    assert.deepEqual(
      rows.map((row) => [row.window, row.quantiles['p50'], row.mean]),
      [
        ['2026-03-06', 0.07, 0.12],
        ['2026-03-07', 0.3, 0.31],
      ]
    );
    assert.equal(rows[1]?.quantiles['p90'], 0.55);
  });

  void it('pairs measured and estimated performance', () => {
    const panels = performancePanels(summary);
    assert.deepEqual(
      panels.map((panel) => panel.quantity),
      ['specificity']
    );
    const panel = panels[0];
    assert.ok(panel);
    assert.deepEqual(panel.series, [
      { metric: 'performance-specificity', estimated: false },
      { metric: 'cbpe-specificity', estimated: true },
    ]);
    assert.deepEqual(
      panel.rows.map((row) => row.window),
      ['2026-03-06', '2026-03-07']
    );
    assert.deepEqual(panel.rows[1]?.values['performance-specificity'], {
      value: 0.7,
      lower: 0.55,
      upper: 0.82,
    });
    assert.equal(panel.rows[0]?.values['cbpe-specificity'], undefined);
  });

  void it('puts rule alerts before findings', () => {
    const timeline = alertTimeline(summary);
    assert.deepEqual(
      timeline.map((entry) => `${entry.window} ${entry.ruleId ?? '-'} ${entry.metric} ${entry.status}`),
      ['2026-03-07 specificity-low performance-specificity opened', '2026-03-07 - output-drift-ks critical']
    );
    assert.deepEqual(timeline[0]?.response, {
      owner: 'Radiology quality lead',
      action: 'Audit the false positives.',
    });
    assert.equal(timeline[1]?.response, undefined);
  });

  void it('reads feedback and statuses', () => {
    assert.deepEqual(summary.feedback, [
      { day: '2026-03-07', accepted: 3, overridden: 1, overrideRate: 0.25 },
    ]);
    assert.deepEqual(
      [...metricStatuses(summary, 'output-drift-ks')],
      [
        ['2026-03-07', 'critical'],
        ['2026-03-06', 'ok'],
      ]
    );
  });
});

void describe('inventory request limiter', () => {
  void it('runs at most two tasks', async () => {
    const limit = createLimiter(2);
    let running = 0;
    let maxRunning = 0;
    const order: number[] = [];
    const task = (id: number) => async () => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running -= 1;
      order.push(id);
      return id;
    };
    const results = await Promise.all([1, 2, 3, 4, 5].map((id) => limit(task(id))));
    assert.deepEqual(results, [1, 2, 3, 4, 5]);
    assert.equal(maxRunning, 2);
    assert.equal(order.length, 5);
  });

  void it('frees the slot of a failed task', async () => {
    const limit = createLimiter(1);
    await assert.rejects(
      limit(() => Promise.reject(new Error('failed'))),
      /failed/
    );
    assert.equal(await limit(() => Promise.resolve('next')), 'next');
  });
});
