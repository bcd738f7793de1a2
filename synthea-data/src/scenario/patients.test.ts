import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Observation } from '@medplum/fhirtypes';
import { pickInputs, toScenarioPatient } from './patients.js';

function quantity(code: string, value: number): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    valueQuantity: { value },
  };
}

function bloodPressure(panel: string, systolic: number): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: panel }] },
    component: [
      { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 70 } },
      {
        code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
        valueQuantity: { value: systolic },
      },
    ],
  };
}

void describe('pickInputs', () => {
  void it('takes the first (newest) value per input', () => {
    const inputs = pickInputs([quantity('8867-4', 110), quantity('8867-4', 70)]);
    assert.equal(inputs.heartRate, 110);
  });

  void it('reads systolic BP from either panel', () => {
    assert.equal(pickInputs([bloodPressure('85354-9', 95)]).systolicBp, 95);
    assert.equal(pickInputs([bloodPressure('55284-4', 131)]).systolicBp, 131);
  });

  void it('accepts alternative codes', () => {
    const inputs = pickInputs([quantity('8331-1', 38.2), quantity('38483-4', 1.4), quantity('26464-8', 12)]);
    assert.equal(inputs.temperature, 38.2);
    assert.equal(inputs.creatinine, 1.4);
    assert.equal(inputs.wbc, 12);
  });

  void it('leaves absent inputs out', () => {
    const inputs = pickInputs([quantity('8867-4', 80)]);
    assert.deepEqual(Object.keys(inputs), ['heartRate']);
  });

  void it('ignores codes of other systems', () => {
    const observation = quantity('8867-4', 99);
    observation.code = { coding: [{ system: 'http://example.org/local', code: '8867-4' }] };
    assert.deepEqual(pickInputs([observation]), {});
  });
});

void describe('toScenarioPatient', () => {
  void it('needs a hospital MRN', () => {
    assert.equal(
      toScenarioPatient({ resourceType: 'Patient', id: 'a', identifier: [{ system: 'urn:x', value: '1' }] }),
      undefined
    );
  });

  void it('starts with every input missing', () => {
    const patient = toScenarioPatient({
      resourceType: 'Patient',
      id: 'a',
      identifier: [{ system: 'http://hospital.smarthealthit.org', value: 'mrn-1' }],
      name: [{ use: 'official', family: 'Doe', given: ['Jane', 'Q'] }],
    });
    assert.equal(patient?.mrn, 'mrn-1');
    assert.equal(patient.givenNames, 'Jane Q');
    assert.equal(patient.missingInputs.length, 7);
  });
});
