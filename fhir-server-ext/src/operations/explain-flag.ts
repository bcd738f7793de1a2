/**
 * `Observation/{id}/$explain-flag`: each monitoring Flag on an AI result with the numbers behind it.
 * For high uncertainty these are the rules that fired (entropy at or above its threshold, margin below
 * its width) with the entropy, the margin and both limits, and for drift the test, statistic, p-value,
 * threshold, window and reference. The model and version come from the result's AI Provenance.
 */
import type { Device, Extension, Flag, Observation, Parameters, Provenance } from '@medplum/fhirtypes';
import {
  flagIdentifierQuery,
  readDriftReference,
  readUncertainty,
  type MetricDocument,
  type RecordedUncertainty,
} from '@monitormed/analyzers';
import { COLLECTIONS, DRIFT_EXTENSION, FLAG_CODES, hasAiLabel, MODEL_ID_SYSTEM } from '@monitormed/common';
import type { Db } from 'mongodb';
import { readResource, searchResources, type FhirTarget } from './fhir-reads.js';
import { OperationInputError } from './operation-input-error.js';
import { OperationNotFoundError } from './operation-not-found-error.js';
import {
  booleanPart,
  codePart,
  decimalParts,
  groupPart,
  stringPart,
  toParameters,
  type Part,
} from './parameters.js';

/**
 * Entropy threshold of the analyzers' settings. It explains results whose uncertainty extension predates
 * the recorded rule limits, which the entropy rule alone flagged.
 */
export interface ExplainThresholds {
  uncertaintyThresholdBits: number;
}

/**
 * Reads an AI result, or throws.
 * @throws OperationNotFoundError when absent; OperationInputError when it is not AIAST-labelled.
 */
export async function readAiResult(target: FhirTarget, observationId: string): Promise<Observation> {
  const observation = await readResource<Observation>(target, 'Observation', observationId);
  if (observation === undefined) {
    throw new OperationNotFoundError(`Observation/${observationId} was not found.`);
  }
  if (!hasAiLabel(observation.meta)) {
    throw new OperationInputError(
      'id',
      `Observation/${observationId} is not an AI result: its meta.security has no AIAST label, so MonitorMed never flags it.`
    );
  }
  return observation;
}

function subPart(extension: Extension | undefined, url: string): Extension | undefined {
  return extension?.extension?.find((part) => part.url === url);
}

function uncertaintyParts(observation: Observation, thresholds: ExplainThresholds): Part[] {
  const recorded = readUncertainty(observation.extension);
  if (recorded === undefined) {
    return [
      stringPart(
        'reason',
        'The result has no uncertainty extension, so the numbers behind this Flag are missing.'
      ),
    ];
  }

  const rules = recorded.rules;
  const entropyThresholdBits = rules?.entropyThresholdBits ?? thresholds.uncertaintyThresholdBits;
  return [
    stringPart('reason', uncertaintyReason(recorded, entropyThresholdBits)),
    ...recorded.methods.map((method) => codePart('method', method)),
    ...(rules?.flaggedBy ?? []).map((rule) => codePart('rule', rule)),
    ...decimalParts('value', recorded.entropyBits),
    ...decimalParts('threshold', entropyThresholdBits),
    ...decimalParts('margin', recorded.margin),
    ...decimalParts('marginWidth', rules?.marginWidth),
    ...decimalParts('mutualInformation', recorded.mutualInformationBits),
  ];
}

/** States which rule raised the Flag, with its value and limit. */
function uncertaintyReason(recorded: RecordedUncertainty, entropyThresholdBits: number): string {
  const entropyBits = recorded.entropyBits;
  const rules = recorded.rules;
  if (rules === undefined) {
    // Written before the rules were recorded, when the entropy rule was the only one.
    return `The binary predictive entropy of the reported probability is ${entropyBits} bits, at or above the threshold of ${entropyThresholdBits} bits (method ${recorded.methods.join(', ')}).`;
  }

  const margin = String(recorded.margin);
  const sentences: string[] = [];
  if (rules.flaggedBy.includes('entropy')) {
    sentences.push(
      `The binary predictive entropy of the reported probability is ${entropyBits} bits, at or above the threshold of ${entropyThresholdBits} bits.`
    );
  }
  if (rules.flaggedBy.includes('margin')) {
    sentences.push(
      `The margin |2p − 1| of the reported probability is ${margin}, below the margin width of ${rules.marginWidth}, so both class probabilities are close to 0.5.`
    );
  }
  if (sentences.length === 0) {
    // The Flag stays from an earlier analysis whose limits differed from the latest one's.
    sentences.push(
      `The latest analysis found no high uncertainty: the entropy of ${entropyBits} bits is below the threshold of ${entropyThresholdBits} bits, and the margin of ${margin} is not below the width of ${rules.marginWidth}. An earlier analysis with other limits raised this Flag.`
    );
  }
  return sentences.join(' ');
}

async function driftParts(
  observation: Observation,
  db: Db,
  model: { modelId: string; modelVersion: string } | undefined
): Promise<Part[]> {
  const extension = observation.extension?.find((candidate) => candidate.url === DRIFT_EXTENSION);
  if (extension === undefined) {
    return [
      stringPart('reason', 'The result has no drift extension, so the numbers behind this Flag are missing.'),
    ];
  }
  const window = subPart(extension, 'window')?.valueString;
  const pValue = subPart(extension, 'pValue')?.valueDecimal;
  const threshold = subPart(extension, 'threshold')?.valueDecimal;

  const reference = await describeReference(observation, db, model, window);
  return [
    stringPart(
      'reason',
      `In window ${String(window)} the two-sample KS test of the model's scores against the reference gave p = ${String(pValue)}, below the threshold ${String(threshold)}.`
    ),
    codePart('test', subPart(extension, 'test')?.valueCode ?? 'ks'),
    ...decimalParts('statistic', subPart(extension, 'statistic')?.valueDecimal),
    ...decimalParts('pValue', pValue),
    ...decimalParts('threshold', threshold),
    ...(window === undefined ? [] : [stringPart('window', window)]),
    stringPart('reference', reference),
    booleanPart('detected', subPart(extension, 'detected')?.valueBoolean ?? false),
  ];
}

/**
 * Describes the reference that the window was tested against, from the drift extension. Extensions
 * written before the analyzers recorded it fall back to the window's metric document in MongoDB.
 */
async function describeReference(
  observation: Observation,
  db: Db,
  model: { modelId: string; modelVersion: string } | undefined,
  window: string | undefined
): Promise<string> {
  const recorded = readDriftReference(observation.extension);
  if (recorded !== undefined) {
    return `pooled windows ${recorded.windows.join(', ')} (${recorded.n} results)`;
  }

  const document =
    model === undefined || window === undefined
      ? null
      : await db
          .collection<MetricDocument>(COLLECTIONS.metrics)
          .findOne(
            { modelId: model.modelId, modelVersion: model.modelVersion, metric: 'output-drift-ks', window },
            { projection: { _id: 0, referenceWindows: 1, referenceN: 1, n: 1 } }
          );
  const referenceWindows = document?.referenceWindows ?? [];
  return referenceWindows.length === 0
    ? 'not recorded'
    : `pooled windows ${referenceWindows.join(', ')} (${String(document?.referenceN ?? '?')} results)`;
}

/** Model and version from the AI Provenance whose agent is the model Device. */
async function provenanceModel(
  target: FhirTarget,
  observationId: string
): Promise<{ deviceId: string; modelId: string; modelVersion: string; name: string } | undefined> {
  const provenances = await searchResources<Provenance>(
    target,
    'Provenance',
    `target=Observation/${encodeURIComponent(observationId)}&_count=20`
  );
  for (const provenance of provenances) {
    for (const agent of provenance.agent) {
      const match = /(?:^|\/)Device\/([^/]+)$/.exec(agent.who.reference ?? '');
      if (match?.[1] === undefined) {
        continue;
      }
      const device = await readResource<Device>(target, 'Device', match[1]);
      const modelId = device?.identifier?.find((identifier) => identifier.system === MODEL_ID_SYSTEM)?.value;
      if (device !== undefined && modelId !== undefined) {
        return {
          deviceId: match[1],
          modelId,
          modelVersion: device.version?.[0]?.value ?? 'unversioned',
          name: device.deviceName?.[0]?.name ?? modelId,
        };
      }
    }
  }
  return undefined;
}

/**
 * Runs $explain-flag on an AI result already read and access-checked.
 * @returns Parameters with `flagged`, the model and one `flag` part per monitoring Flag.
 */
export async function explainFlags(
  target: FhirTarget,
  db: Db,
  observation: Observation,
  thresholds: ExplainThresholds
): Promise<{ parameters: Parameters; flags: Flag[] }> {
  const observationId = observation.id ?? '';
  const flags: Flag[] = [];
  for (const code of Object.values(FLAG_CODES)) {
    flags.push(
      ...(await searchResources<Flag>(target, 'Flag', flagIdentifierQuery(observationId, code.code)))
    );
  }
  const model = await provenanceModel(target, observationId);

  const flagParts: Part[] = [];
  for (const flag of flags) {
    const coding = flag.code.coding?.find(
      (candidate) => candidate.system === FLAG_CODES.highUncertainty.system
    );
    const numbers =
      coding?.code === FLAG_CODES.highUncertainty.code
        ? uncertaintyParts(observation, thresholds)
        : coding?.code === FLAG_CODES.modelDrift.code
          ? await driftParts(observation, db, model)
          : [stringPart('reason', 'The Flag has no MonitorMed monitoring code.')];
    flagParts.push(
      groupPart('flag', [
        { name: 'resource', valueReference: { reference: `Flag/${flag.id ?? ''}` } },
        ...(coding === undefined ? [] : [{ name: 'code', valueCoding: coding }]),
        codePart('status', flag.status),
        ...numbers,
      ])
    );
  }

  const parameters = toParameters([
    { name: 'result', valueReference: { reference: `Observation/${observationId}` } },
    booleanPart('flagged', flags.length > 0),
    ...(flags.length === 0
      ? [
          stringPart(
            'message',
            `Observation/${observationId} has no monitoring Flag: no uncertainty or drift rule fired on it.`
          ),
        ]
      : []),
    ...(model === undefined
      ? [
          stringPart(
            'message',
            'No AI Provenance with a model Device agent targets this result, so its model is unknown.'
          ),
        ]
      : [
          groupPart('model', [
            { name: 'device', valueReference: { reference: `Device/${model.deviceId}` } },
            stringPart('modelId', model.modelId),
            stringPart('modelVersion', model.modelVersion),
            stringPart('name', model.name),
          ]),
        ]),
    ...flagParts,
  ]);
  return { parameters, flags };
}
