/**
 * Validates every resource kind the ORU^R01 mapping writes with HAPI's `$validate`: AI results against
 * MonitorMed's profiles, and the other results, reports and the ED DocumentReference against base R4
 * (MonitorMed has no profile for non-AI results). The transaction is stored in HAPI and read back first,
 * so references are real. The model gets a model id unique to the run, which keeps its Device apart from
 * the demo models' Devices that other tests create.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type {
  Bundle,
  DiagnosticReport,
  DocumentReference,
  Identifier,
  Observation,
  OperationOutcome,
  OperationOutcomeIssue,
  Resource,
} from '@medplum/fhirtypes';
import { MONITORMED_BASE, loadConfig, loadModelCatalog, type AiModelDefinition } from '@monitormed/common';
import { parseMessage } from '../hl7/message.js';
import { TEST_MRN_SYSTEM } from '../test-support/fhir.js';
import { requireFhir, runSuffix } from '../test-support/peers.js';
import { groupResults } from './result-groups.js';
import { buildResultTransaction } from './transaction.js';

const baseUrl = loadConfig().fhirBaseUrl.replace(/\/$/, '');
const requestTimeoutMs = 60_000;
const PROFILES = {
  aiResultObservation: `${MONITORMED_BASE}/StructureDefinition/ai-result-observation`,
  aiResultDiagnosticReport: `${MONITORMED_BASE}/StructureDefinition/ai-result-diagnostic-report`,
  monitoredAiDevice: `${MONITORMED_BASE}/StructureDefinition/monitored-ai-device`,
};

async function fhirRequest(
  method: string,
  path: string,
  body?: unknown
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${baseUrl}/${path}`, {
    method,
    headers: { 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(requestTimeoutMs),
  });
  return { status: response.status, body: (await response.json()) as unknown };
}

/** Runs `$validate` (against `profile` when given, else the base R4 definitions) and returns errors. */
async function validationErrors(resource: Resource, profile?: string): Promise<OperationOutcomeIssue[]> {
  const query = profile === undefined ? '' : `?profile=${encodeURIComponent(profile)}`;
  const { body } = await fhirRequest('POST', `${resource.resourceType}/$validate${query}`, resource);
  const outcome = body as OperationOutcome;
  assert.equal(outcome.resourceType, 'OperationOutcome', `$validate returned ${JSON.stringify(body)}`);
  return outcome.issue.filter((issue) => issue.severity === 'error' || issue.severity === 'fatal');
}

async function assertValid(resource: Resource, label: string, profile?: string): Promise<void> {
  const errors = await validationErrors(resource, profile);
  const text = errors
    .map((issue) => `${issue.diagnostics ?? ''} at ${(issue.location ?? []).join(', ')}`)
    .join('\n');
  assert.equal(errors.length, 0, `${label} is invalid against ${profile ?? 'base R4'}:\n${text}`);
}

/** Builds an OBX line: set id, value type, code, value and status, plus other fields by position. */
function result(
  setId: number,
  valueType: string,
  code: string,
  value: string,
  status: string,
  others: Record<number, string> = {}
): string {
  const fields: Record<number, string> = {
    ...others,
    1: String(setId),
    2: valueType,
    3: code,
    5: value,
    11: status,
  };
  const last = Math.max(...Object.keys(fields).map(Number));
  return ['OBX', ...Array.from({ length: last }, (_unused, index) => fields[index + 1] ?? '')].join('|');
}

void describe('mapped resources pass $validate', () => {
  const suffix = runSuffix();
  const mrn = `VAL${suffix}`;
  const sepsis = loadModelCatalog().find((model) => model.modelId === 'sepsis-risk');
  assert.ok(sepsis, 'the demo catalog has no sepsis-risk model');
  const model: AiModelDefinition = {
    ...sepsis,
    modelId: `validate-${suffix.toLowerCase()}`,
    match: { sendingApplication: 'VALAI', observationCodes: ['MM-SEPSIS-RISK'] },
  };
  const resources = new Map<string, Resource>();

  const byIdentifierSuffix = (type: string, idSuffix: string): Resource => {
    const found = [...resources.values()].find(
      (resource) =>
        resource.resourceType === type &&
        'identifier' in resource &&
        [resource.identifier ?? []]
          .flat()
          .some((identifier: Identifier) => identifier.value?.endsWith(idSuffix) === true)
    );
    assert.ok(found, `no stored ${type} with identifier ending ${idSuffix}`);
    return found;
  };

  before(async () => {
    await requireFhir();
    const created = await fhirRequest('POST', 'Patient', {
      resourceType: 'Patient',
      identifier: [{ system: TEST_MRN_SYSTEM, value: mrn }],
    });
    assert.equal(created.status, 201, `Patient create returned ${String(created.status)}`);

    const text = [
      `MSH|^~\\&|VALAI|HOSP|MM|MMFAC|20260314093000||ORU^R01|VAL${suffix}|P|2.5.1`,
      `PID|1||${mrn}^^^X&${TEST_MRN_SYSTEM}&URI^MR`,
      `OBR|1|PL-${suffix}^EHR|FI-${suffix}|MM-SEPSIS-PANEL^Sepsis^L|||20260314093000|20260314093500${'|'.repeat(14)}20260314094000+0000||AI|F${'|'.repeat(7)}DR7&Curie&Marie||TECH1&Tesla&Nikola`,
      'NTE|1|L|Synthetic result\\.br\\for validation.',
      result(1, 'NM', 'MM-SEPSIS-RISK^Sepsis risk^L', '0.83', 'F', { 6: '1^^UCUM', 14: '20260314093000' }),
      `OBR|2||FI2-${suffix}|24323-8^Metabolic panel^LN|||20260314100000+0000${'|'.repeat(18)}P`,
      result(1, 'NM', '2823-3^Potassium^LN', '5.6', 'F', {
        6: 'mmol/L^^UCUM',
        7: '3.5-5.1',
        8: 'H',
        16: 'DR9^Curie^Marie',
        17: 'METH^Method^L',
        18: 'AN-7^LAB^1.2.3.4^ISO',
        23: 'Central Lab^^^^^CLIA&2.16.840.1.113883.4.7&ISO^^^^05D0000000',
      }),
      result(2, 'SN', '2160-0^Creatinine^LN', '<^0.5', 'F', { 6: 'mg/dL^^UCUM', 7: '0.6-1.2', 8: 'L' }),
      result(3, 'SN', '5048-4^ANA titer^LN', '^1^:^128', 'F'),
      result(4, 'SN', 'X-RANGE^Range^L', '^10^-^20', 'F', { 6: 'mg^^UCUM' }),
      result(5, 'ST', '8251-1^Comment^LN', 'Hemolysed \\T\\ repeat', 'P'),
      result(6, 'CWE', '11449-6^Pregnancy status^LN', 'Y^Yes^HL70136', 'F'),
      result(7, 'DT', '11368-8^Illness onset^LN', '20260310', 'F'),
      result(8, 'TS', 'X-TIME^Sample time^L', '202603141005', 'F'),
      result(9, 'TM', 'X-TM^Clock^L', '1230', 'F'),
      result(10, 'ED', '11502-2^Report^LN', '^AP^PDF^Base64^JVBERi0xLjQ=', 'F'),
      result(11, 'NM', '2345-7^Glucose^LN', '', 'X'),
      'NTE|1|L|Not measured: sample insufficient.',
    ].join('\r');
    const message = parseMessage(text);
    const groups = groupResults(message.segments);
    const plan = buildResultTransaction({
      message,
      groups,
      patients: new Map(
        groups.map((group) => [
          group.pid,
          { reference: { reference: `Patient?identifier=${encodeURIComponent(TEST_MRN_SYSTEM)}|${mrn}` } },
        ])
      ),
      models: [model],
      nonAiResults: 'pass',
      facilityTimeZone: 'Europe/Paris',
      recordedAt: new Date(),
    });

    const response = await fhirRequest('POST', '', plan.bundle);
    assert.equal(response.status, 200, `transaction failed: ${JSON.stringify(response.body)}`);
    for (const entry of (response.body as Bundle).entry ?? []) {
      const location = (entry.response?.location ?? '').replace(/\/_history\/.*$/, '');
      const read = await fhirRequest('GET', location);
      assert.equal(read.status, 200, `GET ${location} returned ${String(read.status)}`);
      resources.set(location, read.body as Resource);
    }
  });

  void it('AI Observation conforms to AIResultObservation', async () => {
    await assertValid(
      byIdentifierSuffix('Observation', '|1|1'),
      'AI Observation',
      PROFILES.aiResultObservation
    );
  });

  void it('AI DiagnosticReport conforms to its profile', async () => {
    const report = byIdentifierSuffix('DiagnosticReport', `VAL${suffix}|1`) as DiagnosticReport;
    assert.ok(report.effectivePeriod, 'OBR-7 and OBR-8 map to effectivePeriod');
    await assertValid(report, 'AI DiagnosticReport', PROFILES.aiResultDiagnosticReport);
  });

  void it('model Device conforms to MonitoredAIDevice', async () => {
    const device = [...resources.values()].find((resource) => resource.resourceType === 'Device');
    assert.ok(device, 'no Device stored');
    await assertValid(device, 'model Device', PROFILES.monitoredAiDevice);
  });

  void it('non-AI report is valid R4', async () => {
    await assertValid(byIdentifierSuffix('DiagnosticReport', `VAL${suffix}|2`), 'non-AI DiagnosticReport');
  });

  void it('each value type is valid R4', async () => {
    const expected: [string, keyof Observation][] = [
      ['|2|1', 'valueQuantity'],
      ['|2|2', 'valueQuantity'],
      ['|2|3', 'valueRatio'],
      ['|2|4', 'valueRange'],
      ['|2|5', 'valueString'],
      ['|2|6', 'valueCodeableConcept'],
      ['|2|7', 'valueDateTime'],
      ['|2|8', 'valueDateTime'],
      ['|2|9', 'valueTime'],
      ['|2|10', 'derivedFrom'],
      ['|2|11', 'dataAbsentReason'],
    ];
    for (const [idSuffix, element] of expected) {
      const observation = byIdentifierSuffix('Observation', idSuffix) as Observation;
      assert.ok(observation[element] !== undefined, `Observation ${idSuffix} has no ${element}`);
      await assertValid(observation, `Observation ${idSuffix} (${element})`);
    }
  });

  void it('ED DocumentReference is valid R4', async () => {
    const document = byIdentifierSuffix('DocumentReference', '|2|10') as DocumentReference;
    assert.equal(document.content[0]?.attachment.contentType, 'application/pdf');
    await assertValid(document, 'ED DocumentReference');
  });
});
