/**
 * Validates the resources MonitorMed's services write against the profiles of MonitorMed's FHIR package,
 * with `$validate?profile=` on the real HAPI at FHIR_BASE_URL. That HAPI must have installed the package at
 * start (peers/peers.sh passes HAPI_IG_PACKAGE once `npm run build -w profiles` has built it).
 *
 * The resources come from the services' own builders: the HL7 listener's transaction for a small ORU^R01,
 * stored in HAPI and read back, the analyzers' extensions and the analyzers' monitoring Flag.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type {
  Bundle,
  Device,
  DeviceMetric,
  DiagnosticReport,
  Observation,
  OperationOutcome,
  OperationOutcomeIssue,
  Patient,
  Provenance,
  Resource,
} from '@medplum/fhirtypes';
import {
  assessUncertainty,
  buildDriftExtension,
  buildMonitoringFlag,
  buildUncertaintyExtension,
  writeMetricObservations,
  METRIC_OBSERVATION_ID_SYSTEM,
  DEVICE_METRIC_ID_SYSTEM,
  type MetricRecord,
} from '@monitormed/analyzers';
import {
  FDA_SUBMISSION_SYSTEM,
  FLAG_CODES,
  MODEL_CARD_EXTENSION,
  MONITORMED_BASE,
  DRIFT_EXTENSION,
  UNCERTAINTY_EXTENSION,
  createFhirClient,
  loadConfig,
  loadModelCatalog,
} from '@monitormed/common';
import {
  buildResultTransaction,
  groupResults,
  parseMessage,
  type PatientLink,
} from '@monitormed/hl7-listener';
import { AI_TRANSPARENCY_PROFILES, MONITORMED_PROFILES } from './src/index.js';

const baseUrl = loadConfig().fhirBaseUrl.replace(/\/$/, '');
const runId = randomBytes(4).toString('hex');
const MRN_SYSTEM = 'https://monitormed.dev/fhir/sid/test-mrn';
const requestTimeoutMs = 60_000;

/** The analyzers' default limits of the entropy and margin rules. */
const DEFAULT_LIMITS = { entropyThresholdBits: 0.97, marginWidth: 0.1 };

/** A drift extension as the analyzers write it for a tested window with detected drift. */
const DETECTED_DRIFT = buildDriftExtension({
  statistic: 0.41,
  pValue: 0.0004,
  threshold: 0.01,
  window: '2026-03-14',
  reference: { windows: ['2026-03-11', '2026-03-12', '2026-03-13'], n: 96 },
  detected: true,
});

/** Sends a FHIR request and returns the status and parsed body. Throws when HAPI cannot be reached. */
async function fhirRequest(
  method: string,
  path: string,
  body?: unknown
): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl}/${path}`, {
      method,
      headers: { 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
  } catch (err) {
    throw new Error(
      `HAPI FHIR is not reachable at ${baseUrl} (${(err as Error).message}). Start it with: peers/peers.sh start hapi`
    );
  }
  return { status: response.status, body: (await response.json()) as unknown };
}

/** Runs `$validate` against `profile` and returns the error and fatal issues. */
async function validate(resource: Resource, profile: string): Promise<OperationOutcomeIssue[]> {
  const path = `${resource.resourceType}/$validate?profile=${encodeURIComponent(profile)}`;
  const body = (await fhirRequest('POST', path, resource)).body as OperationOutcome;
  assert.equal(
    body.resourceType,
    'OperationOutcome',
    `$validate did not return an OperationOutcome: ${JSON.stringify(body)}`
  );
  return body.issue.filter((issue) => issue.severity === 'error' || issue.severity === 'fatal');
}

/** Runs `$validate` on a Bundle, whose entries are checked against the profiles they claim. */
async function validateBundle(bundle: Bundle): Promise<OperationOutcomeIssue[]> {
  const body = (await fhirRequest('POST', 'Bundle/$validate', bundle)).body as OperationOutcome;
  assert.equal(
    body.resourceType,
    'OperationOutcome',
    `$validate did not return an OperationOutcome: ${JSON.stringify(body)}`
  );
  return body.issue.filter((issue) => issue.severity === 'error' || issue.severity === 'fatal');
}

function describeIssues(issues: OperationOutcomeIssue[]): string {
  return issues
    .map((issue) => `${issue.severity}: ${issue.diagnostics ?? ''} at ${(issue.location ?? []).join(', ')}`)
    .join('\n');
}

/** Asserts that `resource` conforms to `profile`, printing every error issue when it does not. */
async function assertValid(resource: Resource, profile: string): Promise<void> {
  const errors = await validate(resource, profile);
  assert.equal(
    errors.length,
    0,
    `${resource.resourceType} is invalid against ${profile}:\n${describeIssues(errors)}`
  );
}

/** Reads a resource by the location that a transaction response entry returned. */
async function readLocation<T extends Resource>(location: string | undefined): Promise<T> {
  assert.ok(location, 'transaction response entry has no location');
  const path = location.replace(/\/_history\/.*$/, '');
  const { status, body } = await fhirRequest('GET', path);
  assert.equal(status, 200, `GET ${path} returned ${String(status)}`);
  return body as T;
}

/** Resources that the HL7 listener stored for the fixture message, as read back from HAPI. */
interface StoredResults {
  patient: Patient;
  resources: Resource[];
}

/** Creates a patient, then stores the listener's transaction for an ORU^R01 with one AI result. */
async function storeListenerResults(): Promise<StoredResults> {
  const mrn = `prof-${runId}`;
  const created = await fhirRequest('POST', 'Patient', {
    resourceType: 'Patient',
    identifier: [{ system: MRN_SYSTEM, value: mrn }],
  });
  assert.equal(created.status, 201, `Patient create returned ${String(created.status)}`);

  const text = [
    `MSH|^~\\&|SEPSISAI|HOSP|MM|MMFAC|20260314093000||ORU^R01|PROF${runId}|P|2.5.1`,
    `PID|1||${mrn}^^^X&${MRN_SYSTEM}&URI^MR`,
    'OBR|1||F1|MM-SEPSIS-PANEL^Sepsis^L|||20260314093000||||||||||||||||||F',
    'OBX|1|NM|MM-SEPSIS-RISK^Sepsis risk^L||0.83|1^^UCUM|||||F|||20260314093000',
  ].join('\r');
  const message = parseMessage(text);
  const groups = groupResults(message.segments);
  const pid = groups[0]?.pid;
  assert.ok(pid, 'fixture message has no PID');
  const link: PatientLink = {
    reference: { reference: `Patient?identifier=${encodeURIComponent(MRN_SYSTEM)}|${mrn}` },
  };
  const plan = buildResultTransaction({
    message,
    groups,
    patients: new Map([[pid, link]]),
    // A model id unique to the run gives a new Device, because HAPI keeps an existing Device with the
    // demo model's id as it is, even when it predates the catalog's current fields.
    models: loadModelCatalog().map((model) => ({ ...model, modelId: `${model.modelId}-${runId}` })),
    nonAiResults: 'pass',
    facilityTimeZone: 'UTC',
    recordedAt: new Date(),
  });

  const response = await fhirRequest('POST', '', plan.bundle);
  assert.equal(response.status, 200, `transaction failed: ${JSON.stringify(response.body)}`);
  const resources: Resource[] = [];
  for (const entry of (response.body as Bundle).entry ?? []) {
    resources.push(await readLocation(entry.response?.location));
  }
  return { patient: created.body as Patient, resources };
}

function findResource<K extends Resource['resourceType']>(
  resources: Resource[],
  type: K
): Extract<Resource, { resourceType: K }> {
  const found = resources.find((resource) => resource.resourceType === type);
  assert.ok(found, `the listener's transaction stored no ${type}`);
  return found as Extract<Resource, { resourceType: K }>;
}

void describe('MonitorMed FHIR package on HAPI', () => {
  let stored: StoredResults;

  before(async () => {
    const installed = await fhirRequest(
      'GET',
      `StructureDefinition?url=${encodeURIComponent(MONITORMED_PROFILES.aiResultObservation)}&_summary=count`
    );
    assert.ok(
      ((installed.body as Bundle).total ?? 0) > 0,
      `HAPI at ${baseUrl} has not installed MonitorMed's FHIR package. Build it with 'npm run build -w profiles' and restart HAPI with peers/peers.sh (it passes HAPI_IG_PACKAGE).`
    );
    stored = await storeListenerResults();
  });

  void it('model Device conforms to MonitoredAIDevice', async () => {
    await assertValid(findResource(stored.resources, 'Device'), MONITORMED_PROFILES.monitoredAiDevice);
  });

  void it('model Device conforms to AI-Device', async () => {
    await assertValid(findResource(stored.resources, 'Device'), AI_TRANSPARENCY_PROFILES.aiDevice);
  });

  void it('listener Observation conforms to AIResultObservation', async () => {
    await assertValid(findResource(stored.resources, 'Observation'), MONITORMED_PROFILES.aiResultObservation);
  });

  void it('analyzed Observation conforms to AIResultObservation', async () => {
    const observation = findResource(stored.resources, 'Observation');
    const probability = observation.valueQuantity?.value;
    assert.ok(probability !== undefined, 'stored Observation has no valueQuantity.value');
    const analyzed: Observation = {
      ...observation,
      extension: [
        ...(observation.extension ?? []),
        buildUncertaintyExtension(assessUncertainty(probability, DEFAULT_LIMITS)),
        DETECTED_DRIFT,
      ],
    };
    await assertValid(analyzed, MONITORMED_PROFILES.aiResultObservation);
  });

  void it('margin-flagged uncertainty conforms', async () => {
    const observation = findResource(stored.resources, 'Observation');
    // Entropy 0.997 bits stays below a 0.999 threshold, and margin 0.06 is below 0.1.
    const assessment = assessUncertainty(0.47, { entropyThresholdBits: 0.999, marginWidth: 0.1 });
    assert.deepEqual(assessment.flaggedBy, ['margin']);
    const extension = buildUncertaintyExtension(assessment);
    const codes = (url: string): (string | undefined)[] =>
      (extension.extension ?? []).filter((part) => part.url === url).map((part) => part.valueCode);
    assert.deepEqual(codes('method'), ['entropy', 'margin']);
    assert.deepEqual(codes('flaggedBy'), ['margin']);

    const analyzed: Observation = {
      ...observation,
      valueQuantity: { ...observation.valueQuantity, value: 0.47 },
      extension: [...(observation.extension ?? []), extension, DETECTED_DRIFT],
    };
    await assertValid(analyzed, MONITORMED_PROFILES.aiResultObservation);
  });

  void it('MC dropout uncertainty conforms to AIResultObservation', async () => {
    const observation = findResource(stored.resources, 'Observation');
    const probability = observation.valueQuantity?.value;
    assert.ok(probability !== undefined, 'stored Observation has no valueQuantity.value');
    const analyzed: Observation = {
      ...observation,
      extension: [
        ...(observation.extension ?? []),
        buildUncertaintyExtension(assessUncertainty(probability, DEFAULT_LIMITS), {
          mean: 0.71,
          std: 0.08,
          predictiveEntropyBits: 0.869,
          expectedEntropyBits: 0.84,
          mutualInformationBits: 0.029,
          samples: 30,
          surrogateVersion: 2,
        }),
      ],
    };
    await assertValid(analyzed, MONITORMED_PROFILES.aiResultObservation);
  });

  void it('listener DiagnosticReport conforms to AIResultDiagnosticReport', async () => {
    const report: DiagnosticReport = findResource(stored.resources, 'DiagnosticReport');
    await assertValid(report, MONITORMED_PROFILES.aiResultDiagnosticReport);
  });

  void it('listener Provenance conforms to AI-Provenance', async () => {
    // AI-Provenance slices agent by who.resolve() conforming to AI-Device. HAPI's $validate resolves
    // that reference only inside the validated Bundle, so the Provenance is validated in a collection
    // Bundle with the resources it points at, and claims the profile in meta.profile.
    const provenance = findResource(stored.resources, 'Provenance');
    const claimed: Provenance = {
      ...provenance,
      meta: { ...provenance.meta, profile: [AI_TRANSPARENCY_PROFILES.aiProvenance] },
    };
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [stored.patient, ...stored.resources.filter((resource) => resource !== provenance), claimed].map(
        (resource) => ({
          fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id ?? ''}`,
          resource,
        })
      ),
    };
    const errors = await validateBundle(bundle);
    assert.equal(
      errors.length,
      0,
      `Provenance is invalid against ${AI_TRANSPARENCY_PROFILES.aiProvenance}:\n${describeIssues(errors)}`
    );
  });

  void it('analyzer Flags conform to MonitoringFlag', async () => {
    const observation = findResource(stored.resources, 'Observation');
    assert.ok(observation.id !== undefined, 'stored Observation has no id');
    assert.ok(stored.patient.id !== undefined, 'created Patient has no id');
    for (const code of [FLAG_CODES.highUncertainty, FLAG_CODES.modelDrift]) {
      const flag = buildMonitoringFlag(
        {
          observationId: observation.id,
          patientId: stored.patient.id,
          effective: observation.effectiveDateTime ?? '2026-03-14',
        },
        code
      );
      await assertValid(flag, MONITORMED_PROFILES.monitoringFlag);
    }
  });

  void it('rejects an AI Observation without AIAST', async () => {
    const observation = findResource(stored.resources, 'Observation');
    const unlabelled: Observation = { ...observation, meta: { ...observation.meta, security: [] } };
    const errors = await validate(unlabelled, MONITORMED_PROFILES.aiResultObservation);
    assert.ok(
      errors.some(
        (issue) =>
          (issue.diagnostics ?? '').includes('aiast') ||
          (issue.expression ?? issue.location ?? []).some((path) => path.includes('meta'))
      ),
      `expected an error on meta.security, got:\n${describeIssues(errors)}`
    );
  });

  void it('rejects an uncertainty extension without analyzerVersion', async () => {
    const observation = findResource(stored.resources, 'Observation');
    const uncertainty = buildUncertaintyExtension(assessUncertainty(0.17, DEFAULT_LIMITS));
    const incomplete: Observation = {
      ...observation,
      extension: [
        ...(observation.extension ?? []),
        {
          url: UNCERTAINTY_EXTENSION,
          extension: uncertainty.extension?.filter((part) => part.url !== 'analyzerVersion'),
        },
      ],
    };
    const errors = await validate(incomplete, MONITORMED_PROFILES.aiResultObservation);
    assert.ok(errors.length > 0, 'an uncertainty extension without analyzerVersion passed validation');
  });

  void it('rejects flaggedBy outside the rules', async () => {
    const observation = findResource(stored.resources, 'Observation');
    const uncertainty = buildUncertaintyExtension(assessUncertainty(0.5, DEFAULT_LIMITS));
    // mc-dropout is an uncertainty method, but no rule of it raises a Flag.
    const parts = (uncertainty.extension ?? []).map((part) =>
      part.url === 'flaggedBy' && part.valueCode === 'margin' ? { ...part, valueCode: 'mc-dropout' } : part
    );
    const invalid: Observation = {
      ...observation,
      extension: [...(observation.extension ?? []), { url: UNCERTAINTY_EXTENSION, extension: parts }],
    };
    const errors = await validate(invalid, MONITORMED_PROFILES.aiResultObservation);
    assert.ok(
      errors.some((issue) => (issue.diagnostics ?? '').includes('mc-dropout')),
      `expected an error on the flaggedBy code mc-dropout, got:\n${describeIssues(errors)}`
    );
  });

  void it('rejects a drift reference without n', async () => {
    const observation = findResource(stored.resources, 'Observation');
    const parts = (DETECTED_DRIFT.extension ?? []).map((part) =>
      part.url === 'reference'
        ? { ...part, extension: (part.extension ?? []).filter((inner) => inner.url !== 'n') }
        : part
    );
    const invalid: Observation = {
      ...observation,
      extension: [...(observation.extension ?? []), { url: DRIFT_EXTENSION, extension: parts }],
    };
    const errors = await validate(invalid, MONITORMED_PROFILES.aiResultObservation);
    assert.ok(errors.length > 0, 'a drift reference without n passed validation');
  });
  void it('model Device has catalog identifiers', () => {
    const device = findResource(stored.resources, 'Device');
    const fda = device.identifier?.find((identifier) => identifier.system === FDA_SUBMISSION_SYSTEM);
    assert.equal(fda?.value, 'K000000');
    const dicom = device.identifier?.find((identifier) => identifier.system === 'urn:dicom:uid');
    assert.match(dicom?.value ?? '', /^urn:oid:2\.25\./);
    assert.equal(device.modelNumber, 'ECAI-SEPSIS-0021');
    const card = device.extension?.find((extension) => extension.url === MODEL_CARD_EXTENSION);
    assert.match(card?.valueReference?.reference ?? '', /^DocumentReference\//);
  });

  void it('model card conforms to AI-ModelCard', async () => {
    const card = findResource(stored.resources, 'DocumentReference');
    await assertValid(card, AI_TRANSPARENCY_PROFILES.aiModelCard);
    const markdown = Buffer.from(card.content[0]?.attachment.data ?? '', 'base64').toString('utf8');
    assert.match(markdown, /^---\n/, 'model card attachment is not the Hugging Face Markdown card');
  });

  void it('rejects an invalid FDA submission number', async () => {
    const device = findResource(stored.resources, 'Device');
    const invalid: Device = {
      ...device,
      identifier: (device.identifier ?? []).map((identifier) =>
        identifier.system === FDA_SUBMISSION_SYSTEM ? { ...identifier, value: 'K12' } : identifier
      ),
    };
    const errors = await validate(invalid, MONITORMED_PROFILES.monitoredAiDevice);
    assert.ok(
      errors.some((issue) => (issue.diagnostics ?? '').includes('mm-fda-submission')),
      `expected an mm-fda-submission error, got:\n${describeIssues(errors)}`
    );
  });

  void it('performance and status extensions conform', async () => {
    const device = findResource(stored.resources, 'Device');
    const withMonitoring: Device = {
      ...device,
      extension: [
        ...(device.extension ?? []),
        {
          url: `${MONITORMED_BASE}/StructureDefinition/ai-performance`,
          extension: [
            { url: 'metric', valueCode: 'performance-sensitivity' },
            { url: 'value', valueDecimal: 0.82 },
            { url: 'intervalLow', valueDecimal: 0.71 },
            { url: 'intervalHigh', valueDecimal: 0.9 },
            { url: 'n', valueInteger: 64 },
            { url: 'basis', valueCode: 'measured' },
            { url: 'window', valueString: '2026-03-14' },
            { url: 'subgroup', valueString: 'all' },
          ],
        },
        {
          url: `${MONITORMED_BASE}/StructureDefinition/monitoring-status`,
          extension: [
            { url: 'status', valueCode: 'warning' },
            { url: 'rule', valueString: 'sensitivity-floor' },
            { url: 'window', valueString: '2026-03-14' },
          ],
        },
      ],
    };
    await assertValid(withMonitoring, MONITORMED_PROFILES.monitoredAiDevice);
  });

  void it('metric Observations conform and rerun updates', async () => {
    const device = findResource(stored.resources, 'Device');
    const modelId = device.identifier?.[0]?.value ?? '';
    const modelVersion = `profiles-${runId}`;
    const records: MetricRecord[] = [
      {
        modelId,
        modelVersion,
        metric: 'output-drift-ks',
        subgroup: 'all',
        window: '2026-03-14',
        value: 0.004,
        n: 30,
      },
      {
        modelId,
        modelVersion,
        metric: 'feature-mean:age',
        subgroup: 'sex:female',
        window: '2026-03-14',
        value: 61.5,
        n: 12,
      },
      {
        modelId,
        modelVersion,
        metric: 'cbpe-auroc',
        subgroup: 'all',
        window: '2026-03-14',
        value: 0.81,
        lower: 0.74,
        upper: 0.88,
        n: 30,
      },
      {
        modelId,
        modelVersion,
        metric: 'output-psi',
        subgroup: 'all',
        window: '2026-03-14',
        value: null,
        n: 3,
      },
    ];
    const client = createFhirClient({ fhirBaseUrl: baseUrl });
    assert.equal(await writeMetricObservations(client, records), records.length);
    // The rerun carries new values, as a recomputed window does, because HAPI skips updates that change nothing.
    const rerun = records.map((record) => ({ ...record, n: record.n + 1 }));
    assert.equal(await writeMetricObservations(client, rerun), records.length);

    for (const record of rerun) {
      const key = [modelId, modelVersion, record.metric, record.subgroup, record.window].join('|');
      const token = `${METRIC_OBSERVATION_ID_SYSTEM}|${key.replaceAll('|', '\\|')}`;
      const found = (await fhirRequest('GET', `Observation?identifier=${encodeURIComponent(token)}`))
        .body as Bundle;
      assert.equal(found.entry?.length, 1, `expected one Observation for ${key} after a rerun`);
      const observation = found.entry[0]?.resource as Observation;
      assert.equal(observation.meta?.versionId, '2', `the rerun did not update the Observation of ${key}`);
      const sampleSize = observation.component?.find(
        (component) => component.code.coding?.[0]?.code === 'sample-size'
      );
      assert.equal(
        sampleSize?.valueInteger,
        record.n,
        `the Observation of ${key} does not hold the rerun's n`
      );
      await assertValid(observation, MONITORMED_PROFILES.monitoringMetricObservation);

      const deviceMetricPath = observation.device?.reference ?? '';
      const deviceMetric = (await fhirRequest('GET', deviceMetricPath)).body as DeviceMetric;
      assert.equal(deviceMetric.identifier?.[0]?.system, DEVICE_METRIC_ID_SYSTEM);
      assert.equal(deviceMetric.source?.reference, `Device/${device.id ?? ''}`);
      await assertValid(deviceMetric, MONITORMED_PROFILES.monitoringDeviceMetric);
    }
  });
});
