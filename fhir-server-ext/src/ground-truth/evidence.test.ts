/**
 * Rules file checks and evidence reading without peers: which label a confirming resource supports, and
 * when it matches an AI result.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Condition, DiagnosticReport, Observation } from '@medplum/fhirtypes';
import { AIAST, loadModelCatalog } from '@monitormed/common';
import { evidenceMatches, readAiResult, readEvidence } from './evidence.js';
import { GroundTruthConfigError } from './ground-truth-config-error.js';
import { LinkingError } from './linking-error.js';
import { loadGroundTruthRules, type GroundTruthRule } from './rules.js';

const rules = loadGroundTruthRules();
const models = loadModelCatalog();
const cxrRule = rules.find((r) => r.modelId === 'cxr-pneumothorax') as GroundTruthRule;
const sepsisRule = rules.find((r) => r.modelId === 'sepsis-risk') as GroundTruthRule;
const AI_TIME = '2026-02-01T10:00:00Z';

function aiResult(code: string, extra: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    id: '40',
    meta: { versionId: '1', security: [AIAST] },
    status: 'final',
    code: { coding: [{ system: 'https://monitormed.dev/fhir/CodeSystem/demo-model-outputs', code }] },
    subject: { reference: 'Patient/7' },
    effectiveDateTime: AI_TIME,
    valueQuantity: { value: 0.8 },
    ...extra,
  };
}

function report(extra: Partial<DiagnosticReport>): DiagnosticReport {
  return {
    resourceType: 'DiagnosticReport',
    id: '41',
    meta: { versionId: '3' },
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '36643-5' }] },
    subject: { reference: 'Patient/7' },
    effectiveDateTime: '2026-02-01T12:00:00Z',
    ...extra,
  };
}

function writeRules(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gt-rules-')), 'rules.json');
  writeFileSync(path, content);
  return path;
}

void describe('ground-truth rules file', () => {
  void it('loads the demo rules', () => {
    assert.deepEqual(rules.map((r) => r.modelId).sort(), ['cxr-pneumothorax', 'sepsis-risk']);
  });

  void it('rejects invalid files with the fix', () => {
    assert.throws(() => loadGroundTruthRules(writeRules('{')), GroundTruthConfigError);
    assert.throws(() => loadGroundTruthRules(writeRules('{}')), /expected a JSON array/);
    assert.throws(
      () =>
        loadGroundTruthRules(writeRules('[{"modelId":"m","horizonHours":0,"negativeAtHorizon":"never"}]')),
      /positive "horizonHours"/
    );
    assert.throws(
      () =>
        loadGroundTruthRules(
          writeRules(
            '[{"modelId":"m","horizonHours":1,"negativeAtHorizon":"never","labs":[{"code":{"system":"s","code":"c"},"windowHours":{"before":0,"after":1}}]}]'
          )
        ),
      /needs "above" or "positiveCodes"/
    );
  });
});

void describe('evidence reading', () => {
  void it('reads an AI result and rejects one without a score', () => {
    const facts = readAiResult(
      aiResult('MM-CXR-PTX', { derivedFrom: [{ reference: 'ImagingStudy/9' }] }),
      models
    );
    assert.equal(facts?.model.modelId, 'cxr-pneumothorax');
    assert.deepEqual(facts.studyKeys, ['ImagingStudy/9']);
    assert.equal(readAiResult(aiResult('OTHER'), models), undefined);
    assert.throws(() => readAiResult(aiResult('MM-CXR-PTX', { valueQuantity: {} }), models), LinkingError);
  });

  void it('labels a report from presentedForm and conclusion', () => {
    const text = Buffer.from('FINDINGS: Possible apical pneumothorax.').toString('base64');
    const outcome = readEvidence(
      report({ presentedForm: [{ contentType: 'text/plain', data: text }], conclusion: 'No pneumothorax.' }),
      cxrRule
    );
    assert.equal(outcome?.kind, 'evidence');
    assert.equal(outcome.evidence.label, 'negative');
    assert.deepEqual(outcome.evidence.span, { field: 'conclusion', start: 3, end: 15 });
  });

  void it('labels report text in an Observation', () => {
    const textReport: Observation = {
      resourceType: 'Observation',
      id: '42',
      meta: { versionId: '1' },
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '18782-3' }] },
      subject: { reference: 'Patient/7' },
      effectiveDateTime: '2026-02-01T12:00:00Z',
      valueString: 'IMPRESSION: Pneumothorax cannot be excluded.',
    };
    const outcome = readEvidence(textReport, cxrRule);
    assert.equal(outcome?.kind, 'evidence');
    assert.equal(outcome.evidence.label, 'uncertain');
    assert.equal(outcome.evidence.rule, 'post-uncertainty');
    assert.equal(outcome.evidence.span?.field, 'valueString');
  });

  void it('retracts a report that is not final', () => {
    const outcome = readEvidence(
      report({ status: 'entered-in-error', conclusion: 'Pneumothorax.' }),
      cxrRule
    );
    assert.equal(outcome?.kind, 'retract');
  });

  void it('skips AI reports and other codes', () => {
    assert.equal(readEvidence(report({ meta: { versionId: '1', security: [AIAST] } }), cxrRule), undefined);
    assert.equal(readEvidence(report({ conclusion: 'Pneumothorax.' }), sepsisRule), undefined);
  });

  void it('reads lactate against its threshold', () => {
    const lactate = (value: number, unit: string): Observation => ({
      resourceType: 'Observation',
      id: '50',
      meta: { versionId: '1' },
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '2524-7' }] },
      subject: { reference: 'Patient/7' },
      effectiveDateTime: '2026-02-01T13:00:00Z',
      valueQuantity: { value, code: unit },
    });
    assert.equal(readEvidence(lactate(3.4, 'mmol/L'), sepsisRule)?.kind, 'evidence');
    assert.equal(readEvidence(lactate(1.2, 'mmol/L'), sepsisRule)?.kind, 'retract');
    assert.equal(
      readEvidence(lactate(30, 'mg/dL'), sepsisRule)?.kind,
      'retract',
      'another unit is not compared'
    );
  });

  void it('reads a refuted diagnosis as negative', () => {
    const condition: Condition = {
      resourceType: 'Condition',
      id: '60',
      meta: { versionId: '2' },
      code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'A41.9' }] },
      verificationStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'refuted' }],
      },
      subject: { reference: 'Patient/7' },
      onsetDateTime: '2026-02-02T01:00:00Z',
    };
    const outcome = readEvidence(condition, sepsisRule);
    assert.equal(outcome?.kind, 'evidence');
    assert.equal(outcome.evidence.label, 'negative');
    assert.equal(outcome.evidence.rule, 'diagnosis-refuted');
  });

  void it('matches by window and study', () => {
    const ai = readAiResult(
      aiResult('MM-CXR-PTX', { derivedFrom: [{ reference: 'ImagingStudy/9' }] }),
      models
    );
    assert.ok(ai);
    const matching = readEvidence(
      report({ conclusion: 'Pneumothorax.', imagingStudy: [{ reference: 'ImagingStudy/9' }] }),
      cxrRule
    );
    const otherStudy = readEvidence(
      report({ conclusion: 'Pneumothorax.', imagingStudy: [{ reference: 'ImagingStudy/8' }] }),
      cxrRule
    );
    const late = readEvidence(
      report({ conclusion: 'Pneumothorax.', effectiveDateTime: '2026-02-03T12:00:00Z' }),
      cxrRule
    );
    const noStudy = readEvidence(report({ conclusion: 'Pneumothorax.' }), cxrRule);
    assert.equal(matching?.kind, 'evidence');
    assert.equal(otherStudy?.kind, 'evidence');
    assert.equal(late?.kind, 'evidence');
    assert.equal(noStudy?.kind, 'evidence');

    assert.equal(evidenceMatches(ai, matching, true), true);
    assert.equal(evidenceMatches(ai, otherStudy, true), false);
    assert.equal(evidenceMatches(ai, otherStudy, false), true);
    assert.equal(evidenceMatches(ai, late, true), false, 'a report 50 h later is outside the 24 h window');
    assert.equal(evidenceMatches(ai, noStudy, true), true, 'a report without a study matches by time');
  });
});
