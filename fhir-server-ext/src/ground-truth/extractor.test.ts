/**
 * Table test of the report-text extractor on hand-written synthetic report sentences. Every trigger kind
 * appears at least once; the accuracy over the table is printed and must be 100 %.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extractReportLabel, type ReportLabel } from './extractor.js';
import type { ReportSection } from './triggers.js';

const PNEUMOTHORAX = ['pneumothorax', 'pneumothoraces', 'hydropneumothorax', 'ptx', 'pleural air'];
const SEPSIS = ['sepsis', 'septic shock', 'septicemia', 'urosepsis', 'bacteremia'];

interface Case {
  text: string;
  expected: ReportLabel;
  /** Rule expected on the deciding mention. */
  rule?: string;
  terms?: readonly string[];
  defaultSection?: ReportSection;
}

const CASES: Case[] = [
  // Affirmed mentions.
  { text: 'Small right apical pneumothorax.', expected: 'positive', rule: 'affirmed' },
  {
    text: 'There is a moderate left-sided pneumothorax measuring 2 cm.',
    expected: 'positive',
    rule: 'affirmed',
  },
  { text: 'Large tension PTX with mediastinal shift.', expected: 'positive', rule: 'affirmed' },
  { text: 'Bilateral pneumothoraces are present.', expected: 'positive', rule: 'affirmed' },
  { text: 'Left hydropneumothorax with an air-fluid level.', expected: 'positive', rule: 'affirmed' },

  // Pre-negation triggers.
  { text: 'No pneumothorax.', expected: 'negative', rule: 'pre-negation' },
  { text: 'Lungs are clear without pneumothorax or effusion.', expected: 'negative', rule: 'pre-negation' },
  { text: 'Negative for pneumothorax.', expected: 'negative', rule: 'pre-negation' },
  { text: 'The pleural spaces are free of pleural air.', expected: 'negative', rule: 'pre-negation' },
  { text: 'No evidence of pneumothorax on the upright view.', expected: 'negative', rule: 'pre-negation' },
  {
    text: 'No focal consolidation, pleural effusion or pneumothorax.',
    expected: 'negative',
    rule: 'pre-negation',
  },
  { text: 'Absence of pneumothorax after chest tube removal.', expected: 'negative', rule: 'pre-negation' },
  { text: 'Interval resolution of the left pneumothorax.', expected: 'negative', rule: 'pre-negation' },
  { text: 'Resolved right pneumothorax.', expected: 'negative', rule: 'pre-negation' },
  { text: 'Ruled out pneumothorax on the expiratory film.', expected: 'negative', rule: 'pre-negation' },
  { text: 'No residual pneumothorax after pleurodesis.', expected: 'negative', rule: 'pre-negation' },

  // Post-negation triggers.
  { text: 'The previously noted pneumothorax has resolved.', expected: 'negative', rule: 'post-negation' },
  { text: 'Pneumothorax is not seen.', expected: 'negative', rule: 'post-negation' },
  { text: 'Pneumothorax was ruled out on the follow-up film.', expected: 'negative', rule: 'post-negation' },
  {
    text: 'Pneumothorax unlikely given preserved lung markings.',
    expected: 'negative',
    rule: 'post-negation',
  },
  {
    text: 'Apical pneumothorax is absent on the current study.',
    expected: 'negative',
    rule: 'post-negation',
  },

  // Pseudo-negations keep the mention affirmed.
  { text: 'No increase in the size of the left pneumothorax.', expected: 'positive', rule: 'affirmed' },
  { text: 'No interval change in the small right pneumothorax.', expected: 'positive', rule: 'affirmed' },
  { text: 'Not only a pneumothorax but also rib fractures.', expected: 'positive', rule: 'affirmed' },
  { text: 'No significant change in the known pneumothorax since this morning.', expected: 'positive' },

  // Termination terms end the scope of a trigger.
  { text: 'No effusion, but a small pneumothorax is present.', expected: 'positive', rule: 'affirmed' },
  { text: 'No consolidation; however, a left pneumothorax is seen.', expected: 'positive', rule: 'affirmed' },
  {
    text: 'No rib fracture although there is a shallow pneumothorax.',
    expected: 'positive',
    rule: 'affirmed',
  },

  // Uncertainty triggers.
  { text: 'Possible small left apical pneumothorax.', expected: 'uncertain', rule: 'pre-uncertainty' },
  { text: 'A tiny pneumothorax cannot be excluded.', expected: 'uncertain', rule: 'post-uncertainty' },
  {
    text: 'Linear lucency may represent a skin fold or pneumothorax.',
    expected: 'uncertain',
    rule: 'pre-uncertainty',
  },
  { text: 'Cannot exclude a small pneumothorax.', expected: 'uncertain', rule: 'pre-uncertainty' },
  {
    text: 'Findings suspicious for pneumothorax; recommend a lateral decubitus view.',
    expected: 'uncertain',
  },
  { text: 'Questionable right pneumothorax.', expected: 'uncertain', rule: 'pre-uncertainty' },
  { text: 'Left pneumothorax is not excluded.', expected: 'uncertain', rule: 'post-uncertainty' },

  // Historical mentions are not findings of this study.
  { text: 'History of spontaneous pneumothorax.', expected: 'none' },
  { text: 'Patient is status post pleurodesis for recurrent pneumothorax.', expected: 'none' },
  { text: 'Compared with prior study, new right pneumothorax.', expected: 'positive', rule: 'affirmed' },

  // Sections: the impression wins; history and indication are ignored.
  {
    text: 'FINDINGS: Possible small pneumothorax at the apex.\nIMPRESSION: No pneumothorax.',
    expected: 'negative',
    rule: 'pre-negation',
  },
  {
    text: 'FINDINGS: Lungs are clear. No pneumothorax.\nIMPRESSION: Small right pneumothorax, new.',
    expected: 'positive',
    rule: 'affirmed',
  },
  { text: 'INDICATION: Rule out pneumothorax.\nFINDINGS: Lungs are clear.', expected: 'none' },
  { text: 'CLINICAL HISTORY: Pneumothorax last year.\nIMPRESSION: Normal chest.', expected: 'none' },
  { text: 'Normal heart size. Clear lungs.', expected: 'none' },
  { text: 'Stable small pneumothorax.', expected: 'positive', defaultSection: 'impression' },

  // Sepsis terms in discharge and progress text.
  { text: 'Admitted with urosepsis, treated with ceftriaxone.', expected: 'positive', terms: SEPSIS },
  { text: 'Sepsis was ruled out; blood cultures negative.', expected: 'negative', terms: SEPSIS },
  { text: 'Gram negative bacteremia on day 2.', expected: 'positive', rule: 'affirmed', terms: SEPSIS },
  { text: 'Possible early sepsis, lactate pending.', expected: 'uncertain', terms: SEPSIS },
  { text: 'Denies fever; no signs of sepsis.', expected: 'negative', terms: SEPSIS },
  { text: 'Known septic shock from last admission, now resolved.', expected: 'negative', terms: SEPSIS },
];

void describe('report label extractor', () => {
  void it('labels the synthetic sentence table', () => {
    assert.ok(CASES.length >= 40, `the table needs at least 40 sentences, has ${CASES.length}`);
    const failures: string[] = [];

    for (const testCase of CASES) {
      const result = extractReportLabel(
        [{ field: 'text', text: testCase.text, defaultSection: testCase.defaultSection ?? 'findings' }],
        testCase.terms ?? PNEUMOTHORAX
      );
      const ruleOk = testCase.rule === undefined || result.decisive?.rule === testCase.rule;
      if (result.label !== testCase.expected || !ruleOk) {
        failures.push(
          `"${testCase.text}": expected ${testCase.expected}${testCase.rule === undefined ? '' : ` by ${testCase.rule}`}, ` +
            `got ${result.label} by ${result.decisive?.rule ?? 'no mention'}`
        );
      }
    }

    const correct = CASES.length - failures.length;
    const accuracyPercent = (100 * correct) / CASES.length;
    console.log(`extractor accuracy: ${correct}/${CASES.length} = ${accuracyPercent.toFixed(1)} %`);
    assert.deepEqual(failures, []);
  });

  void it('reports offsets of the deciding mention', () => {
    const text = 'FINDINGS: Clear.\nIMPRESSION: No pneumothorax.';
    const result = extractReportLabel(
      [{ field: 'presentedForm', text, defaultSection: 'findings' }],
      PNEUMOTHORAX
    );

    const decisive = result.decisive;
    assert.equal(result.label, 'negative');
    assert.ok(decisive, 'a negative label must name its deciding mention');
    assert.equal(decisive.field, 'presentedForm');
    assert.equal(decisive.section, 'impression');
    assert.equal(decisive.trigger, 'no');
    assert.equal(text.slice(decisive.start, decisive.end), 'pneumothorax');
  });

  void it('lets the conclusion win over findings', () => {
    const result = extractReportLabel(
      [
        { field: 'presentedForm', text: 'Small left pneumothorax.', defaultSection: 'findings' },
        { field: 'conclusion', text: 'No pneumothorax; skin fold.', defaultSection: 'impression' },
      ],
      PNEUMOTHORAX
    );

    assert.equal(result.label, 'negative');
    assert.equal(result.decisive?.field, 'conclusion');
    assert.equal(result.mentions.length, 2);
  });
});
