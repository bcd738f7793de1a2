/**
 * Monitoring data of the views test, computed by the analyzers' own code from simulated results of the
 * demo's drift scenario. The chest X-ray scores follow synthea-data/src/scenario/cxr-model.ts and
 * run.ts: 5% of studies show a pneumothorax, the model's log-odds are about 1.5 with one and -2.5
 * without, and from day 6 a new scanner adds 2 to the log-odds. Ten days of 40 results, with the first
 * three as the drift reference, match the demo's defaults.
 *
 * The results and their ground-truth labels go to MongoDB only (no FHIR Observations), and then:
 * - the analyzers' rollup writes the volume, means and score sketches;
 * - the two-sample KS test (the analyzers' `ksTwoSample`) writes output and age drift per day, as the
 *   drift job does, with the configured p-value threshold;
 * - the performance job writes measured metrics with 95% intervals and CBPE estimates, also per sex;
 * - the alert service evaluates one alert rule per day, as the alerts job does.
 */
import {
  AlertService,
  ANALYZER_VERSION,
  binaryEntropyBits,
  computePerformanceWindow,
  EvaluationStore,
  ksTwoSample,
  loadAnalyzerSettings,
  ResultsStore,
  rollupWindow,
  type AiResultDocument,
  type AlertRule,
  type MetricDocument,
} from '@monitormed/analyzers';
import {
  ALERT_COLLECTIONS,
  COLLECTIONS,
  LABEL_COLLECTIONS,
  type AiModelDefinition,
  type AlertEventDocument,
  type FhirClient,
  type LabelDocument,
  type Logger,
} from '@monitormed/common';
import type { Db } from 'mongodb';

/** Shape of the simulated scenario. */
export const SCENARIO = {
  firstDay: '2026-03-02',
  days: 10,
  resultsPerDay: 40,
  referenceDays: 3,
  /** First drifted day, counted from 1. */
  driftDay: 6,
  logitShift: 2,
  prevalence: 0.05,
} as const;

/** Values of the simulated scenario that the tests assert on. */
export interface ScenarioData {
  /** Day keys, oldest first. */
  windows: string[];
  /** Day key of the first drifted day. */
  driftWindow: string;
  /** The alert rule evaluated on the model. */
  rule: AlertRule;
  /** Window in which the rule's alert opened; undefined when it never did. */
  openedWindow: string | undefined;
  /** Output drift p-values per day key, undefined for reference days. */
  outputDriftP: Map<string, number | undefined>;
}

const DAY_MS = 86_400_000;

/** Creates a seeded generator of uniform numbers in [0, 1) (mulberry32), so every run draws the same results. */
function createUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Creates a generator of standard normal numbers by the Box-Muller transform. */
function createNormal(uniform: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function dayKey(day: number): string {
  return new Date(Date.parse(`${SCENARIO.firstDay}T00:00:00Z`) + (day - 1) * DAY_MS)
    .toISOString()
    .slice(0, 10);
}

interface SimulatedResult {
  document: AiResultDocument & { subgroups: { sex: string } };
  label: LabelDocument;
}

function simulateResults(model: AiModelDefinition, deviceId: string, runTag: string): SimulatedResult[] {
  const uniform = createUniform(20_260_302);
  const normal = createNormal(uniform);
  const results: SimulatedResult[] = [];
  for (let day = 1; day <= SCENARIO.days; day += 1) {
    const window = dayKey(day);
    for (let index = 0; index < SCENARIO.resultsPerDay; index += 1) {
      const positive = uniform() < SCENARIO.prevalence;
      let logit = positive ? 1.5 + normal() : -2.5 + 0.9 * normal();
      if (day >= SCENARIO.driftDay) {
        logit += SCENARIO.logitShift;
      }
      // The demo's simulator rounds the probability to 4 decimals, as it sends it in OBX-5.
      const score = Math.round((1 / (1 + Math.exp(-logit))) * 10_000) / 10_000;
      const sex = uniform() < 0.5 ? 'female' : 'male';
      const effective = new Date(Date.parse(`${window}T00:00:00Z`) + index * 30 * 60_000);
      const observationId = `${runTag}-${window}-${String(index)}`;
      results.push({
        document: {
          observationId,
          observationVersionId: '1',
          status: 'analyzed',
          modelId: model.modelId,
          modelVersion: model.version,
          deviceId,
          window,
          score,
          entropy: binaryEntropyBits(score),
          margin: Math.abs(2 * score - 1),
          uncertaintyMethod: 'entropy',
          patientId: `synthetic-${String(index % 7)}`,
          effective,
          features: { age: Math.round(18 + uniform() * 70), sex },
          analyzedAt: new Date(),
          analyzerVersion: ANALYZER_VERSION,
          subgroups: { sex },
        },
        label: {
          _id: observationId,
          modelId: model.modelId,
          patient: `Patient/synthetic-${String(index % 7)}`,
          aiVersionId: '1',
          score,
          aiPositive: score >= model.positiveThreshold,
          aiEffective: effective,
          day: window,
          label: positive ? 'positive' : 'negative',
          method: 'rule',
          evidence: [],
          extractorVersion: 'views-test',
          horizonAt: new Date(effective.getTime() + 3 * DAY_MS),
          revision: 1,
          updatedAt: new Date(),
        },
      });
    }
  }
  return results;
}

/** Writes the output and age drift of each tested day, as the drift job and Evidently's KS test do. */
async function writeDrift(
  db: Db,
  model: AiModelDefinition,
  results: readonly SimulatedResult[]
): Promise<Map<string, number | undefined>> {
  const settings = loadAnalyzerSettings();
  const store = new ResultsStore(db);
  const referenceWindows = Array.from({ length: SCENARIO.referenceDays }, (_, index) => dayKey(index + 1));
  const reference = results.filter((result) => referenceWindows.includes(result.document.window ?? ''));
  const columnOf = (rows: readonly SimulatedResult[], read: (result: SimulatedResult) => number) =>
    rows.map(read);
  const scoreOf = (result: SimulatedResult) => result.document.score ?? 0;
  const ageOf = (result: SimulatedResult) => Number(result.document.features?.['age'] ?? 0);

  const outputDriftP = new Map<string, number | undefined>();
  for (let day = 1; day <= SCENARIO.days; day += 1) {
    const window = dayKey(day);
    const rows = results.filter((result) => result.document.window === window);
    const base = {
      modelId: model.modelId,
      modelVersion: model.version,
      subgroup: 'all',
      window,
      granularity: 'day' as const,
      windowStart: new Date(`${window}T00:00:00Z`),
      n: rows.length,
      computedAt: new Date(),
      analyzerVersion: ANALYZER_VERSION,
      referenceWindows,
      referenceN: reference.length,
    };
    if (referenceWindows.includes(window)) {
      outputDriftP.set(window, undefined);
      await store.upsertMetric({ ...base, metric: 'output-drift-ks', value: null, status: 'reference' });
      continue;
    }

    const enough = rows.length >= settings.driftMinWindowN;
    const output = ksTwoSample(columnOf(rows, scoreOf), columnOf(reference, scoreOf));
    const outputDetected = enough && output.pValue < settings.driftPThreshold;
    const age = ksTwoSample(columnOf(rows, ageOf), columnOf(reference, ageOf));
    // The analyzers' Evidently threshold mode flags a p-value test below 0.05 (drift-settings.ts).
    const ageDetected = age.pValue < 0.05;
    const documents: MetricDocument[] = [
      {
        ...base,
        metric: 'output-drift-ks',
        value: output.pValue,
        statistic: output.statistic,
        pValueMethod: output.method,
        threshold: settings.driftPThreshold,
        minN: settings.driftMinWindowN,
        test: 'ks',
        detected: outputDetected,
        status: outputDetected ? 'drift' : 'no-drift',
      },
      {
        ...base,
        metric: 'feature-drift:age',
        value: age.pValue,
        statistic: age.statistic,
        threshold: 0.05,
        thresholdMode: 'evidently',
        test: 'ks',
        detected: ageDetected,
        status: ageDetected ? 'drift' : 'no-drift',
      },
    ];
    for (const document of documents) {
      await store.upsertMetric(document);
    }
    outputDriftP.set(window, output.pValue);
  }
  return outputDriftP;
}

/**
 * Simulates the scenario for one model version and writes its monitoring data into `db`.
 * @param fhir - FHIR client of the alert service, which raises the model's alert Flag on a Group of the
 *   model's Device.
 * @param runTag - Prefix of the simulated result ids, unique to the run.
 */
export async function writeScenarioMonitoring(
  db: Db,
  fhir: FhirClient,
  model: AiModelDefinition,
  deviceId: string,
  runTag: string,
  log: Logger
): Promise<ScenarioData> {
  const results = simulateResults(model, deviceId, runTag);
  const resultsStore = new ResultsStore(db);
  const evaluation = new EvaluationStore(db);
  await resultsStore.ensureIndexes();
  await evaluation.ensureIndexes();
  await db.collection(COLLECTIONS.aiResults).insertMany(results.map((result) => ({ ...result.document })));
  await db
    .collection<LabelDocument>(LABEL_COLLECTIONS.labels)
    .insertMany(results.map((result) => result.label));

  const windows = Array.from({ length: SCENARIO.days }, (_, index) => dayKey(index + 1));
  for (const window of windows) {
    await rollupWindow(
      // No rollup subgroups, as in the demo: FerretDB makes each rollup write slow (tens of seconds per
      // day under load), and the performance job already splits by the results' subgroups.
      { results: resultsStore, evaluation, log },
      { modelId: model.modelId, window }
    );
  }
  const outputDriftP = await writeDrift(db, model, results);

  // minN 15 (the job's default is 30) gives each sex subgroup, about 20 results a day, its own values.
  const performance = {
    minN: 15,
    eceBins: 10,
    cbpeReference: { fromDay: windows[0] ?? '', toDay: windows[SCENARIO.referenceDays - 1] ?? '' },
  };
  const rule: AlertRule = {
    ruleId: `views-specificity-low-${runTag}`,
    modelId: model.modelId,
    metric: 'performance-specificity',
    subgroups: ['all'],
    direction: 'below',
    threshold: 0.95,
    consecutiveWindows: 2,
    minN: 30,
    response: {
      owner: 'Radiology quality lead',
      action:
        "Return the worklist to unprioritised reading order and check the new scanner's images with the vendor.",
    },
  };
  const alerts = new AlertService({ db, fhir, rules: [rule], models: [model], notifications: {}, log });
  for (const window of windows) {
    await computePerformanceWindow(db, model, window, performance);
    await alerts.evaluate(model.modelId, window);
  }

  const opened = await db
    .collection<AlertEventDocument>(ALERT_COLLECTIONS.history)
    .findOne({ ruleId: rule.ruleId, kind: 'opened' });
  return {
    windows,
    driftWindow: dayKey(SCENARIO.driftDay),
    rule,
    openedWindow: opened?.window,
    outputDriftP,
  };
}
