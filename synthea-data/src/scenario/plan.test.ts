import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadModelCatalog, type AiModelDefinition } from '@monitormed/common';
import { BASELINE_SCANNER, REPLACEMENT_SCANNER } from './cxr-model.js';
import { CXR_MODEL_ID, SEPSIS_MODEL_ID, planScenario, type PlannedResult } from './plan.js';
import { createRng } from './prng.js';
import { DEFAULT_DRIFT, resolvePlanOptions } from './run.js';
import type { ScenarioPatient } from './patients.js';
import { ScenarioError } from './scenario-error.js';
import { populationDefaults } from './sepsis-model.js';

const catalog = loadModelCatalog();
const models = {
  sepsis: catalog.find((m) => m.modelId === SEPSIS_MODEL_ID) as AiModelDefinition,
  cxr: catalog.find((m) => m.modelId === CXR_MODEL_ID) as AiModelDefinition,
};

/** Patients with varied inputs around the population defaults, like a loaded Synthea population. */
function makePatients(count: number, seed = 1): ScenarioPatient[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, (_, i) => {
    const defaults = populationDefaults();
    return {
      id: `patient-${String(i).padStart(3, '0')}`,
      mrn: `mrn-${String(i)}`,
      family: 'Test',
      givenNames: 'Patient',
      birthDate: '1970-01-01',
      gender: i % 2 === 0 ? 'female' : 'male',
      inputs: {
        ...defaults,
        heartRate: defaults.heartRate + 15 * rng.normal(),
        respiratoryRate: defaults.respiratoryRate + 3 * rng.normal(),
        creatinine: Math.max(0.4, defaults.creatinine + 0.3 * rng.normal()),
      },
      missingInputs: [],
    };
  });
}

/**
 * Two-sample Kolmogorov-Smirnov test with the asymptotic p-value (Kolmogorov distribution with the
 * small-sample correction of Stephens 1970), written here to check the scenario's sample sizes.
 */
function ksTest(a: number[], b: number[]): { statistic: number; pValue: number } {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let statistic = 0;
  while (i < x.length && j < y.length) {
    const value = Math.min(x[i] as number, y[j] as number);
    while (i < x.length && (x[i] as number) <= value) i++;
    while (j < y.length && (y[j] as number) <= value) j++;
    statistic = Math.max(statistic, Math.abs(i / x.length - j / y.length));
  }
  const ne = Math.sqrt((x.length * y.length) / (x.length + y.length));
  const lambda = (ne + 0.12 + 0.11 / ne) * statistic;
  let pValue = 0;
  for (let k = 1; k <= 100; k++) {
    pValue += 2 * (-1) ** (k - 1) * Math.exp(-2 * k * k * lambda * lambda);
  }
  return { statistic, pValue: Math.min(1, Math.max(0, pValue)) };
}

function scoresOf(results: PlannedResult[], modelId: string, day: number): number[] {
  return results.filter((r) => r.modelId === modelId && r.day === day).map((r) => r.probability);
}

void describe('ksTest helper', () => {
  void it('separates shifted samples only', () => {
    const rng = createRng(11);
    const a = Array.from({ length: 200 }, () => rng.normal());
    const b = Array.from({ length: 200 }, () => rng.normal());
    const shifted = b.map((v) => v + 1);
    assert.ok(ksTest(a, b).pValue > 0.01);
    assert.ok(ksTest(a, shifted).pValue < 0.001);
  });
});

void describe('planScenario', () => {
  const defaults = resolvePlanOptions({});

  void it('is deterministic for a seed', () => {
    const patients = makePatients(20);
    const first = planScenario(models, patients, defaults);
    const second = planScenario(models, patients, defaults);
    assert.deepEqual(
      first.map((r) => [r.controlId, r.probability, r.transport]),
      second.map((r) => [r.controlId, r.probability, r.transport])
    );
    const other = planScenario(models, patients, { ...defaults, seed: 7 });
    assert.notDeepEqual(
      first.map((r) => r.probability),
      other.map((r) => r.probability)
    );
  });

  void it('ignores server ids and patient order', () => {
    const patients = makePatients(20);
    // Another server assigns other ids, and a search may list the patients in another order.
    const elsewhere = patients.map((p, i) => ({ ...p, id: String(9000 - i) })).reverse();
    const first = planScenario(models, patients, defaults);
    const second = planScenario(models, elsewhere, defaults);
    assert.deepEqual(
      first.map((r) => [r.controlId, r.patient.mrn, r.probability, r.transport]),
      second.map((r) => [r.controlId, r.patient.mrn, r.probability, r.transport])
    );
  });

  void it('reaches the daily sample size', () => {
    for (const patientCount of [3, 11, 67]) {
      const results = planScenario(models, makePatients(patientCount), defaults);
      for (let day = 1; day <= defaults.days; day++) {
        assert.ok(
          scoresOf(results, SEPSIS_MODEL_ID, day).length >= 40,
          `sepsis day ${String(day)} with ${String(patientCount)} patients`
        );
        assert.ok(
          scoresOf(results, CXR_MODEL_ID, day).length >= 40,
          `cxr day ${String(day)} with ${String(patientCount)} patients`
        );
      }
    }
  });

  void it('gives unique control ids of at most 20 characters', () => {
    const results = planScenario(models, makePatients(67), defaults);
    const ids = results.map((r) => r.controlId);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) {
      assert.ok(id.length <= 20, `${id} is longer than 20`);
    }
  });

  void it('keeps each result inside its UTC day', () => {
    for (const result of planScenario(models, makePatients(11), defaults)) {
      const expected = new Date(Date.parse('2026-03-02T00:00:00Z') + (result.day - 1) * 86_400_000)
        .toISOString()
        .slice(0, 10);
      assert.equal(result.time.toISOString().slice(0, 10), expected);
    }
  });

  void it('switches the scanner on the drift day', () => {
    const results = planScenario(models, makePatients(11), defaults).filter(
      (r) => r.modelId === CXR_MODEL_ID
    );
    for (const result of results) {
      const expected = result.day >= DEFAULT_DRIFT.startDay ? REPLACEMENT_SCANNER : BASELINE_SCANNER;
      assert.equal(result.scanner?.id, expected.id);
    }
  });

  void it('routes about a quarter of imaging results to FHIR', () => {
    const results = planScenario(models, makePatients(67), defaults);
    const imaging = results.filter((r) => r.modelId === CXR_MODEL_ID);
    const share = imaging.filter((r) => r.transport === 'fhir').length / imaging.length;
    assert.ok(share > 0.18, `share ${String(share)} too low`);
    assert.ok(share < 0.32, `share ${String(share)} too high`);
    assert.ok(results.filter((r) => r.modelId === SEPSIS_MODEL_ID).every((r) => r.transport === 'hl7'));
  });

  for (const patientCount of [11, 67]) {
    void it(`KS detects the default drift, ${String(patientCount)} patients`, () => {
      const results = planScenario(models, makePatients(patientCount), defaults);
      const reference = scoresOf(results, CXR_MODEL_ID, 1);
      for (let day = 2; day <= defaults.days; day++) {
        const { pValue } = ksTest(reference, scoresOf(results, CXR_MODEL_ID, day));
        if (day >= DEFAULT_DRIFT.startDay) {
          assert.ok(pValue < 0.01, `cxr day ${String(day)} p=${String(pValue)} should show drift`);
        } else {
          assert.ok(pValue >= 0.01, `cxr day ${String(day)} p=${String(pValue)} false alarm before drift`);
        }
      }
    });

    void it(`KS stays quiet for the stable model, ${String(patientCount)} patients`, () => {
      const results = planScenario(models, makePatients(patientCount), defaults);
      const reference = scoresOf(results, SEPSIS_MODEL_ID, 1);
      for (let day = 2; day <= defaults.days; day++) {
        const { pValue } = ksTest(reference, scoresOf(results, SEPSIS_MODEL_ID, day));
        assert.ok(pValue >= 0.01, `sepsis day ${String(day)} p=${String(pValue)} false alarm`);
      }
    });
  }

  void it('drifts the sepsis model when asked', () => {
    const options = resolvePlanOptions({ drift: { modelId: SEPSIS_MODEL_ID } });
    const results = planScenario(models, makePatients(67), options);
    const reference = scoresOf(results, SEPSIS_MODEL_ID, 1);
    assert.ok(ksTest(reference, scoresOf(results, SEPSIS_MODEL_ID, 8)).pValue < 0.01);
    assert.ok(ksTest(scoresOf(results, CXR_MODEL_ID, 1), scoresOf(results, CXR_MODEL_ID, 8)).pValue >= 0.01);
  });
});

void describe('resolvePlanOptions', () => {
  void it('fills the defaults', () => {
    const options = resolvePlanOptions({});
    assert.equal(options.days, 10);
    assert.equal(options.seed, 42);
    assert.equal(options.startDate, '2026-03-02');
    assert.deepEqual(options.drift, DEFAULT_DRIFT);
  });

  void it('accepts no drift', () => {
    assert.equal(resolvePlanOptions({ drift: null }).drift, null);
  });

  const invalid: [string, Parameters<typeof resolvePlanOptions>[0], RegExp][] = [
    ['days', { days: 0 }, /Invalid days 0/],
    ['start date', { startDate: '2026-3-1' }, /Invalid start date/],
    ['calendar date', { startDate: '2026-02-30' }, /Invalid start date "2026-02-30"/],
    ['seed', { seed: -1 }, /Invalid seed -1/],
    [
      'drift day',
      { days: 5, drift: { startDay: 6 } },
      /Invalid drift day 6: expected a whole number from 1 to 5/,
    ],
    ['drift model', { drift: { modelId: 'other' } }, /Invalid drift model "other"/],
    ['share', { fhirDirectShare: 2 }, /Invalid FHIR-direct share 2/],
    ['results per day', { resultsPerModelPerDay: 10_000 }, /Invalid results per day/],
  ];
  for (const [name, options, message] of invalid) {
    void it(`rejects invalid ${name}`, () => {
      assert.throws(
        () => resolvePlanOptions(options),
        (err: unknown) => err instanceof ScenarioError && message.test(err.message)
      );
    });
  }
});
