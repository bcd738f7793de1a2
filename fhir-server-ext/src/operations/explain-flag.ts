/**
 * `Observation/{id}/$explain-flag`: each monitoring Flag on an AI result with the numbers behind it.
 * For high uncertainty these are the method and value against the threshold, and for drift the test,
 * statistic, p-value, threshold, window and reference. The model and version come from the result's
 * AI Provenance.
 */
import type { Device, Extension, Flag, Observation, Parameters, Provenance } from '@medplum/fhirtypes';
import { flagIdentifierQuery, type MetricDocument } from '@monitormed/analyzers';
import {
  COLLECTIONS,
  DRIFT_EXTENSION,
  FLAG_CODES,
  hasAiLabel,
  MODEL_ID_SYSTEM,
  UNCERTAINTY_EXTENSION,
} from '@monitormed/common';
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

/** Threshold the analyzers raise high-uncertainty Flags at, from their settings. */
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
  const extension = observation.extension?.find((candidate) => candidate.url === UNCERTAINTY_EXTENSION);
  if (extension === undefined) {
    return [
      stringPart(
        'reason',
        'The result has no uncertainty extension, so the numbers behind this Flag are missing.'
      ),
    ];
  }
  const method = subPart(extension, 'method')?.valueCode ?? 'entropy';
  const value = subPart(extension, 'value')?.valueDecimal;
  return [
    stringPart(
      'reason',
      `The binary predictive entropy of the reported probability is ${String(value)} bits, at or above the threshold of ${thresholds.uncertaintyThresholdBits} bits (method ${method}).`
    ),
    codePart('method', method),
    ...decimalParts('value', value),
    ...decimalParts('threshold', thresholds.uncertaintyThresholdBits),
    ...decimalParts('mutualInformation', subPart(extension, 'mutualInformation')?.valueDecimal),
  ];
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

  // The extension has no reference; the analyzers' window document names the pooled reference windows.
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
  const reference =
    referenceWindows.length === 0
      ? 'not recorded'
      : `pooled windows ${referenceWindows.join(', ')} (${String(document?.referenceN ?? '?')} results)`;

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
