import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle, Device, Flag, Observation } from '@medplum/fhirtypes';
import {
  AI_CONFIDENCE_EXTENSION,
  AIAST,
  DRIFT_EXTENSION,
  FLAG_CODES,
  FLAG_DETAIL_EXTENSION,
  UNCERTAINTY_EXTENSION,
} from '@monitormed/common/fhir-codes';
import { formatDateTime, formatDecimal, formatDrift, MISSING_VALUE } from './format.js';
import { buildResultRows, referenceKey } from './results.js';

const device: Device = {
  resourceType: 'Device',
  id: 'dev-1',
  deviceName: [{ name: 'Sepsis risk', type: 'model-name' }],
  version: [{ value: '2.1.0' }],
};

const flaggedObservation: Observation = {
  resourceType: 'Observation',
  id: 'obs-1',
  meta: { security: [AIAST] },
  status: 'final',
  code: { text: 'Sepsis risk' },
  effectiveDateTime: '2026-03-14T10:22:00Z',
  valueQuantity: { value: 0.55, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
  device: { reference: 'Device/dev-1/_history/2' },
  interpretation: [
    {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'POS' }],
    },
  ],
  extension: [
    { url: AI_CONFIDENCE_EXTENSION, valueDecimal: 0.55 },
    {
      url: UNCERTAINTY_EXTENSION,
      extension: [
        { url: 'method', valueCode: 'entropy' },
        { url: 'value', valueDecimal: 0.9928 },
      ],
    },
    {
      url: DRIFT_EXTENSION,
      extension: [
        { url: 'test', valueCode: 'ks' },
        { url: 'pValue', valueDecimal: 0.003 },
        { url: 'window', valueString: '2026-03-14' },
        { url: 'detected', valueBoolean: true },
      ],
    },
  ],
};

const cleanObservation: Observation = {
  resourceType: 'Observation',
  id: 'obs-2',
  status: 'final',
  code: { text: 'Sepsis risk' },
  device: { reference: 'http://fhir.example/fhir/Device/unknown' },
};

const driftFlag: Flag = {
  resourceType: 'Flag',
  id: 'flag-1',
  status: 'active',
  code: { coding: [FLAG_CODES.modelDrift] },
  subject: { reference: 'Patient/p1' },
  extension: [{ url: FLAG_DETAIL_EXTENSION, valueReference: { reference: 'Observation/obs-1' } }],
};

const unrelatedFlag: Flag = {
  resourceType: 'Flag',
  id: 'flag-2',
  status: 'active',
  code: { text: 'Fall risk' },
  subject: { reference: 'Patient/p1' },
};

const inactiveFlag: Flag = { ...driftFlag, id: 'flag-3', status: 'inactive' };

function searchset(resources: (Device | Observation | Flag)[], hasNext = false): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: resources.map((resource) => ({ resource })),
    link: hasNext ? [{ relation: 'next', url: 'http://fhir.example/fhir?page=2' }] : [],
  };
}

void describe('referenceKey', () => {
  void it('strips history and base URL', () => {
    assert.equal(referenceKey('Device/12/_history/3'), 'Device/12');
    assert.equal(referenceKey('http://fhir.example/fhir/Observation/7'), 'Observation/7');
  });

  void it('rejects references without an id', () => {
    assert.equal(referenceKey(undefined), undefined);
    assert.equal(referenceKey('Device/'), undefined);
    assert.equal(referenceKey('Device'), undefined);
  });
});

void describe('buildResultRows', () => {
  const results = buildResultRows(
    searchset([flaggedObservation, device, cleanObservation]),
    searchset([driftFlag, unrelatedFlag, inactiveFlag])
  );

  void it('returns one row per Observation in search order', () => {
    assert.deepEqual(
      results.rows.map((row) => row.observationId),
      ['obs-1', 'obs-2']
    );
  });

  void it('reads model, values and extensions', () => {
    const row = results.rows[0];
    assert.ok(row);
    assert.equal(row.modelName, 'Sepsis risk');
    assert.equal(row.modelVersion, '2.1.0');
    assert.equal(row.probability, 0.55);
    assert.equal(row.interpretation, 'Positive');
    assert.equal(row.confidence, 0.55);
    assert.equal(row.uncertaintyBits, 0.9928);
    assert.deepEqual(row.drift, { detected: true, pValue: 0.003, window: '2026-03-14' });
  });

  void it('matches active flags through flag-detail', () => {
    assert.deepEqual(results.rows[0]?.flags, [
      { flagId: 'flag-1', reason: FLAG_CODES.modelDrift.display, response: undefined },
    ]);
    assert.deepEqual(results.rows[1]?.flags, []);
    assert.equal(results.unlinkedFlagCount, 1);
  });

  void it('tolerates a result without extras', () => {
    const row = results.rows[1];
    assert.ok(row);
    assert.equal(row.modelName, 'Unknown model');
    assert.equal(row.modelVersion, undefined);
    assert.equal(row.probability, undefined);
    assert.equal(row.uncertaintyBits, undefined);
    assert.equal(row.drift, undefined);
  });

  void it('reports a next page', () => {
    assert.equal(results.hasMoreResults, false);
    assert.equal(buildResultRows(searchset([], true), searchset([])).hasMoreResults, true);
  });
});

void describe('format helpers', () => {
  void it('formats decimals and missing values', () => {
    assert.equal(formatDecimal(0.87), '0.870');
    assert.equal(formatDecimal(undefined), MISSING_VALUE);
  });

  void it('formats date-times in UTC', () => {
    assert.equal(formatDateTime('2026-03-14T11:22:00+01:00'), '2026-03-14 10:22 UTC');
    assert.equal(formatDateTime('2026-03-14'), '2026-03-14');
    assert.equal(formatDateTime('not-a-dateTtime'), 'not-a-dateTtime');
  });

  void it('formats drift verdicts', () => {
    assert.equal(formatDrift(undefined), 'Not evaluated');
    assert.equal(
      formatDrift({ detected: true, pValue: 0.003, window: '2026-03-14' }),
      'Drift detected (p = 0.003, window 2026-03-14)'
    );
    assert.equal(formatDrift({ detected: false, pValue: 0.41, window: undefined }), 'No drift (p = 0.41)');
    assert.equal(
      formatDrift({ detected: undefined, pValue: undefined, window: undefined }),
      'Drift status unknown'
    );
  });
});
