/**
 * Synthetic data of the operations tests: a model Device, AI results with the analyzers' extensions,
 * Flags and Provenance in the real HAPI FHIR, and metric documents written with the analyzers' own
 * ResultsStore into a MongoDB database private to the run.
 */
import type { Device, Flag, Observation, Provenance, Resource } from '@medplum/fhirtypes';
import {
  ANALYZER_VERSION,
  assessUncertainty,
  buildDriftExtension,
  buildMonitoringFlag,
  buildUncertaintyExtension,
  EvaluationStore,
  OUTPUT_FEATURES,
  ResultsStore,
  sketchNumbers,
  type MetricDocument,
} from '@monitormed/analyzers';
import {
  ALERT_COLLECTIONS,
  AI_AGENT_ROLE,
  type AlertEventDocument,
  AI_CONFIDENCE_EXTENSION,
  AIAST,
  buildModelDevice,
  COLLECTIONS,
  connectMongo,
  FLAG_CODES,
  overrideRateId,
  PROVENANCE_AUTHOR,
  type MonitorMedConfig,
  type OverrideRateDocument,
} from '@monitormed/common';
import { FDA_SUBMISSION_SYSTEM } from './fhir-reads.js';

/** Ids and values the tests assert on. */
export interface OperationsFixture {
  modelId: string;
  deviceId: string;
  fdaNumber: string;
  /** Result with a high-uncertainty and a model-drift Flag. */
  flaggedObservationId: string;
  /** AI result without Flags. */
  cleanObservationId: string;
  /** The drift window of the flagged result, where output drift is detected. */
  driftWindow: string;
  /** Stored p-value of the age feature in the drift window. */
  agePValue: number;
  /** Documented response of the fixture's alert event. */
  alertAction: string;
  /** Output scores of the drift window, whose sketch gives its output quantiles. */
  driftWindowScores: number[];
  /** Clinician responses counted on the drift window's day. */
  feedback: { accepted: number; overridden: number };
}

/** Output scores of the drift window: 40 values from 0.3 to 0.69, above the other windows' scores. */
const DRIFT_WINDOW_SCORES = Array.from({ length: 40 }, (_, index) => 0.3 + index / 100);

/** Days of the fixture's metric windows; the first two are the pooled reference. */
const WINDOWS = ['2026-01-01', '2026-01-02', '2026-01-03', '2026-01-04', '2026-01-05'];

/** Results in the pooled reference windows. */
const REFERENCE_N = 80;

/** The analyzers' default rule limits, under which the flagged result's 0.49 fires both rules. */
const UNCERTAINTY_LIMITS = { entropyThresholdBits: 0.97, marginWidth: 0.1 };

type HapiCall = <T = Resource>(path: string, method?: string, body?: unknown) => Promise<T>;

/**
 * Writes the fixture: Device, two AI results on `patientId`, two Flags and a Provenance in HAPI, and
 * metric documents for five daily windows in `config.mongoDatabase`.
 */
export async function createOperationsFixture(
  config: MonitorMedConfig,
  callHapi: HapiCall,
  runId: string,
  patientId: string
): Promise<OperationsFixture> {
  const modelId = `ops-test-${runId}`;
  const fdaNumber = `K26${runId.slice(0, 4)}`;
  const outputCode = { system: 'https://monitormed.dev/fhir/CodeSystem/test', code: `OPS-${runId}` };
  const model = {
    modelId,
    name: `Operations test model ${runId}`,
    version: '2.1.0',
    manufacturer: 'MonitorMed tests',
    kind: 'Machine-Learning-Models',
    intendedUse: 'Synthetic model for the operations tests',
    match: {},
    outputCode,
    positiveThreshold: 0.5,
  };
  const deviceBody = buildModelDevice(model);
  deviceBody.identifier = [
    ...(deviceBody.identifier ?? []),
    { system: FDA_SUBMISSION_SYSTEM, value: fdaNumber },
  ];
  const device = await callHapi<Device>('Device', 'POST', deviceBody);
  const deviceId = device.id ?? '';

  const driftWindow = '2026-01-05';
  const result = (probability: number, flagged: boolean): Observation => ({
    resourceType: 'Observation',
    meta: { security: [AIAST] },
    status: 'final',
    code: { coding: [outputCode] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: `${driftWindow}T10:00:00Z`,
    valueQuantity: { value: probability, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
    device: { reference: `Device/${deviceId}` },
    interpretation: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
            code: probability >= 0.5 ? 'POS' : 'NEG',
          },
        ],
      },
    ],
    extension: [
      { url: AI_CONFIDENCE_EXTENSION, valueDecimal: Math.max(probability, 1 - probability) },
      buildUncertaintyExtension(assessUncertainty(probability, UNCERTAINTY_LIMITS)),
      buildDriftExtension({
        statistic: 0.62,
        pValue: 0.0004,
        threshold: 0.05,
        window: driftWindow,
        reference: { windows: WINDOWS.slice(0, 2), n: REFERENCE_N },
        detected: flagged,
      }),
    ],
  });
  const flagged = await callHapi<Observation>('Observation', 'POST', result(0.49, true));
  const clean = await callHapi<Observation>('Observation', 'POST', result(0.01, false));
  const flaggedObservationId = flagged.id ?? '';

  for (const code of [FLAG_CODES.highUncertainty, FLAG_CODES.modelDrift]) {
    await callHapi<Flag>(
      'Flag',
      'POST',
      buildMonitoringFlag(
        { observationId: flaggedObservationId, patientId, effective: `${driftWindow}T10:00:00Z` },
        code
      )
    );
  }
  const provenance: Provenance = {
    resourceType: 'Provenance',
    target: [{ reference: `Observation/${flaggedObservationId}` }],
    recorded: new Date().toISOString(),
    occurredDateTime: `${driftWindow}T10:00:00Z`,
    agent: [
      {
        type: { coding: [PROVENANCE_AUTHOR] },
        role: [{ coding: [AI_AGENT_ROLE] }],
        who: { reference: `Device/${deviceId}` },
      },
    ],
  };
  await callHapi<Provenance>('Provenance', 'POST', provenance);

  const agePValue = 0.0021;
  const alertAction = `Suspend model ${runId} pending review`;
  await writeMetrics(config, modelId, model.version, driftWindow, agePValue, alertAction);
  return {
    modelId,
    deviceId,
    fdaNumber,
    flaggedObservationId,
    cleanObservationId: clean.id ?? '',
    driftWindow,
    agePValue,
    alertAction,
    driftWindowScores: DRIFT_WINDOW_SCORES,
    feedback: FEEDBACK,
  };
}

/** Accepted and overridden counts of the fixture's override-rate document. */
const FEEDBACK = { accepted: 6, overridden: 2 };

async function writeMetrics(
  config: MonitorMedConfig,
  modelId: string,
  modelVersion: string,
  driftWindow: string,
  agePValue: number,
  alertAction: string
): Promise<void> {
  const mongo = await connectMongo(config, 5_000);
  try {
    const store = new ResultsStore(mongo.db);
    await store.ensureIndexes();
    const referenceWindows = WINDOWS.slice(0, 2);
    for (const window of WINDOWS) {
      const base = {
        modelId,
        modelVersion,
        subgroup: 'all',
        window,
        granularity: 'day' as const,
        windowStart: new Date(`${window}T00:00:00Z`),
        n: 40,
        computedAt: new Date(),
        analyzerVersion: ANALYZER_VERSION,
      };
      const isReference = referenceWindows.includes(window);
      const drifting = window === driftWindow;
      // Reference windows carry no test result; tested windows drift only in driftWindow.
      let outputTest: Pick<MetricDocument, 'value' | 'statistic' | 'status'> = {
        value: null,
        statistic: null,
        status: 'reference',
      };
      if (drifting) {
        outputTest = { value: 0.0004, statistic: 0.62, status: 'drift' };
      } else if (!isReference) {
        outputTest = { value: 0.63, statistic: 0.11, status: 'no-drift' };
      }
      const documents: MetricDocument[] = [
        { ...base, metric: 'result-count', value: 40 },
        { ...base, metric: 'uncertainty-entropy-mean', value: 0.41, sum: 16.4 },
        {
          ...base,
          metric: 'output-drift-ks',
          ...outputTest,
          threshold: 0.05,
          detected: drifting,
          referenceWindows,
          referenceN: REFERENCE_N,
          test: 'ks',
        },
      ];
      if (!isReference) {
        documents.push(
          {
            ...base,
            metric: 'feature-drift:age',
            value: drifting ? agePValue : 0.4,
            statistic: drifting ? 0.41 : 0.12,
            test: 'ks',
            threshold: 0.05,
            thresholdMode: 'evidently',
            status: drifting ? 'drift' : 'no-drift',
            detected: drifting,
            missingRateReference: 0,
            missingRateCurrent: 0.025,
            referenceWindows,
            referenceN: REFERENCE_N,
          },
          {
            ...base,
            metric: 'feature-drift-share',
            value: drifting ? 1 : 0,
            threshold: 0.5,
            thresholdMode: 'evidently',
            detected: drifting,
          }
        );
      }
      for (const document of documents) {
        await store.upsertMetric(document);
      }
    }

    // Performance documents as the analyzers' performance job writes them: measured with a 95% interval,
    // and estimated by CBPE.
    const performanceBase = {
      modelId,
      modelVersion,
      subgroup: 'all',
      granularity: 'day' as const,
      window: '2026-01-04',
      windowStart: new Date('2026-01-04T00:00:00Z'),
      computedAt: new Date(),
      analyzerVersion: 'performance-1.0.0',
      status: 'ok',
    };
    await mongo.db.collection(COLLECTIONS.metrics).insertMany([
      { ...performanceBase, metric: 'performance-sensitivity', value: 0.8, lower: 0.61, upper: 0.91, n: 25 },
      { ...performanceBase, metric: 'cbpe-auroc', value: 0.83, lower: 0.77, upper: 0.89, n: 40 },
    ]);

    const event: AlertEventDocument = {
      _id: `sensitivity-low|${modelId}|all|1|opened`,
      alertKey: `sensitivity-low|${modelId}|all`,
      episode: 1,
      kind: 'opened',
      ruleId: 'sensitivity-low',
      modelId,
      subgroup: 'all',
      metric: 'performance-sensitivity',
      direction: 'below',
      threshold: 0.85,
      window: '2026-01-04',
      value: 0.8,
      n: 25,
      breachingWindows: ['2026-01-04'],
      response: { owner: 'AI governance committee', action: alertAction },
      at: new Date(),
    };
    await mongo.db.collection<AlertEventDocument>(ALERT_COLLECTIONS.history).insertOne(event);

    // The rollup's output score sketch of the drift window, and the clinicians' responses of that day.
    await new EvaluationStore(mongo.db).upsertSketch({
      modelId,
      modelVersion,
      feature: OUTPUT_FEATURES.score,
      subgroup: 'all',
      granularity: 'day',
      window: driftWindow,
      windowStart: new Date(`${driftWindow}T00:00:00Z`),
      sketch: sketchNumbers(DRIFT_WINDOW_SCORES, { lower: 0, upper: 1, bins: 20 }),
      updatedAt: new Date(),
    });
    await mongo.db.collection<OverrideRateDocument>(COLLECTIONS.overrideRates).insertOne({
      _id: overrideRateId(modelId, driftWindow),
      modelId,
      day: driftWindow,
      ...FEEDBACK,
      countedFeedback: [],
      updatedAt: new Date(),
    });
  } finally {
    await mongo.client.close();
  }
}
