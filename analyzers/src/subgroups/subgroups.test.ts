/** Subgroup derivation from Synthea-style Patients and result Observations. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { HL7_RESULT_ID_SYSTEM } from '@monitormed/common';
import {
  US_CORE_ETHNICITY,
  US_CORE_RACE,
  ageBand,
  ageInYears,
  patientSubgroups,
  siteOf,
  subgroupKeys,
} from './subgroups.js';

const patient: Patient = {
  resourceType: 'Patient',
  gender: 'female',
  birthDate: '1950-06-15',
  extension: [
    {
      url: US_CORE_RACE,
      extension: [
        {
          url: 'ombCategory',
          valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code: '2106-3', display: 'White' },
        },
        { url: 'text', valueString: 'White' },
      ],
    },
    {
      url: US_CORE_ETHNICITY,
      extension: [
        { url: 'ombCategory', valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code: '2186-5' } },
      ],
    },
  ],
};

void describe('subgroups', () => {
  void it('age bands at their bounds', () => {
    assert.equal(ageBand(17), '<18');
    assert.equal(ageBand(18), '18-39');
    assert.equal(ageBand(64), '40-64');
    assert.equal(ageBand(65), '65-79');
    assert.equal(ageBand(80), '80+');
    assert.equal(ageBand(50, [50]), '50+');
  });

  void it('age counts completed years', () => {
    assert.equal(ageInYears('1950-06-15', new Date('2026-06-14T23:00:00Z')), 75);
    assert.equal(ageInYears('1950-06-15', new Date('2026-06-15T00:00:00Z')), 76);
    assert.equal(ageInYears('not a date', new Date()), undefined);
  });

  void it('patient dimensions from US Core extensions', () => {
    assert.deepEqual(patientSubgroups(patient, new Date('2026-01-10T00:00:00Z')), {
      age: '65-79',
      sex: 'female',
      race: '2106-3',
      ethnicity: '2186-5',
    });
  });

  void it('site from performer or MSH-4', () => {
    const base: Observation = { resourceType: 'Observation', status: 'final', code: {} };
    assert.equal(siteOf({ ...base, performer: [{ reference: 'Organization/7' }] }), 'Organization/7');
    assert.equal(
      siteOf({ ...base, identifier: [{ system: HL7_RESULT_ID_SYSTEM, value: 'GENHOSP|MSG1|1|1' }] }),
      'GENHOSP'
    );
    assert.equal(siteOf(base), undefined);
  });

  void it('keys include all', () => {
    assert.deepEqual(subgroupKeys({ sex: 'male', site: 'GENHOSP' }), ['all', 'sex:male', 'site:GENHOSP']);
    assert.deepEqual(subgroupKeys(undefined), ['all']);
  });
});
