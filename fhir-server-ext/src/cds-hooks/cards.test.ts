/** Card building from monitoring Flags: indicator mapping, summary length and missing results. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Device, Observation } from '@medplum/fhirtypes';
import { FLAG_CODES, MODEL_ID_SYSTEM, loadModelCatalog } from '@monitormed/common';
import { assessUncertainty, buildMonitoringFlag, buildUncertaintyExtension } from '@monitormed/analyzers';
import { MAX_SUMMARY_LENGTH, buildCards, indicatorFor, type CardOptions } from './cards.js';

const options: CardOptions = {
  serviceId: 'monitormed-ai-flags',
  hookInstance: 'c1a3f0e2-5b7d-4c8e-9f10-112233445566',
  smartLaunchUrl: 'https://app.example.org/launch',
  sourceUrl: 'https://app.example.org',
  catalog: loadModelCatalog(),
};

function flag(observationId: string, code: (typeof FLAG_CODES)[keyof typeof FLAG_CODES], id: string) {
  return {
    ...buildMonitoringFlag({ observationId, patientId: 'p1', effective: '2026-11-30T08:00:00Z' }, code),
    id,
  };
}

void describe('CDS cards', () => {
  void it('indicator follows the flag codes', () => {
    const cases: [string[], string][] = [
      [[FLAG_CODES.highUncertainty.code], 'warning'],
      [[FLAG_CODES.modelDrift.code], 'warning'],
      [[FLAG_CODES.highUncertainty.code, FLAG_CODES.modelDrift.code], 'critical'],
      [['some-future-code'], 'info'],
      [['some-future-code', FLAG_CODES.modelDrift.code], 'warning'],
    ];
    for (const [codes, expected] of cases) {
      assert.equal(indicatorFor(codes), expected, codes.join(','));
    }
  });

  void it('summary stays under 140 characters', () => {
    const device: Device = {
      resourceType: 'Device',
      id: 'd1',
      identifier: [{ system: MODEL_ID_SYSTEM, value: 'long-model' }],
      deviceName: [{ name: 'A'.repeat(300), type: 'model-name' }],
    };
    const observation: Observation = {
      resourceType: 'Observation',
      id: 'o1',
      status: 'final',
      code: { text: 'score' },
      subject: { reference: 'Patient/p1' },
      device: { reference: 'Device/d1' },
    };
    const [issued] = buildCards(
      {
        flags: [flag('o1', FLAG_CODES.highUncertainty, 'f1'), flag('o1', FLAG_CODES.modelDrift, 'f2')],
        observations: new Map([['o1', observation]]),
        devices: new Map([['d1', device]]),
      },
      options
    );

    assert.ok(issued !== undefined);
    assert.ok(issued.card.summary.length <= MAX_SUMMARY_LENGTH, `${issued.card.summary.length} characters`);
    assert.match(issued.card.summary, /…/);
    assert.match(issued.card.summary, /high uncertainty and model drift/);
    assert.equal(issued.record.modelId, 'long-model');
    assert.deepEqual(issued.record.flagIds, ['f1', 'f2']);
  });

  void it('unreadable result still gets a card', () => {
    const [issued] = buildCards(
      { flags: [flag('gone', FLAG_CODES.modelDrift, 'f3')], observations: new Map(), devices: new Map() },
      options
    );

    assert.ok(issued !== undefined);
    assert.equal(issued.card.indicator, 'warning');
    assert.match(issued.card.detail ?? '', /Observation\/gone could not be read/);
    assert.equal(issued.record.modelId, null);
    assert.equal(issued.record.observationId, 'gone');
  });

  void it('model comes from the catalog without Device', () => {
    const sepsis = options.catalog[0];
    assert.ok(sepsis !== undefined);
    const observation: Observation = {
      resourceType: 'Observation',
      id: 'o2',
      status: 'final',
      code: { coding: [sepsis.outputCode] },
      subject: { reference: 'Patient/p1' },
      valueQuantity: { value: 0.5 },
    };
    const [issued] = buildCards(
      {
        flags: [flag('o2', FLAG_CODES.highUncertainty, 'f4')],
        observations: new Map([['o2', observation]]),
        devices: new Map(),
      },
      options
    );

    assert.ok(issued !== undefined);
    assert.equal(issued.record.modelId, sepsis.modelId);
    assert.match(issued.card.detail ?? '', new RegExp(`\\*\\*Model:\\*\\* ${sepsis.name}`));
    assert.match(issued.card.detail ?? '', /\*\*Drift:\*\* not evaluated yet/);
  });

  void it('uncertainty reason names the rule', () => {
    const observation = (id: string, probability: number, entropyThresholdBits: number): Observation => ({
      resourceType: 'Observation',
      id,
      status: 'final',
      code: { text: 'score' },
      subject: { reference: 'Patient/p1' },
      valueQuantity: { value: probability },
      extension: [
        buildUncertaintyExtension(assessUncertainty(probability, { entropyThresholdBits, marginWidth: 0.1 })),
      ],
    });
    const detailOf = (result: Observation): string => {
      const [issued] = buildCards(
        {
          flags: [flag(result.id ?? '', FLAG_CODES.highUncertainty, `f-${result.id ?? ''}`)],
          observations: new Map([[result.id ?? '', result]]),
          devices: new Map(),
        },
        options
      );
      return issued?.card.detail ?? '';
    };

    // 0.47: entropy 0.997 bits, margin 0.06.
    const marginOnly = detailOf(observation('o5', 0.47, 0.999));
    assert.match(marginOnly, /High uncertainty: the margin \|2p − 1\| 0\.0600 is below the width 0\.100,/);
    assert.doesNotMatch(marginOnly, /reached the threshold/);

    const both = detailOf(observation('o6', 0.47, 0.97));
    assert.match(both, /predictive entropy 0\.997 bits reached the threshold 0\.970 bits and the margin/);

    const neither = detailOf(observation('o7', 0.2, 0.97));
    assert.match(
      neither,
      /raised by an earlier analysis\. The latest analysis found predictive entropy 0\.722 bits/
    );
  });
});
