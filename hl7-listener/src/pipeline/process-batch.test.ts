import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Device, DocumentReference, Observation } from '@medplum/fhirtypes';
import {
  MODEL_CARD_EXTENSION,
  MODEL_ID_SYSTEM,
  createLogger,
  modelCardQuery,
  type FhirClient,
} from '@monitormed/common';
import { ObjectId } from 'mongodb';
import { loadListenerConfig } from '../config.js';
import type { WorkMessage } from '../store/message-types.js';
import { FACILITY, resultIdentifier, search } from '../test-support/fhir.js';
import { buildOru, createTestPatient } from '../test-support/pipeline-harness.js';
import { requireFhir, runModels, runSuffix } from '../test-support/peers.js';
import { processStoredBatch } from './process-batch.js';

const logger = createLogger('hl7-listener-test', 'silent');

/** Error shaped like fhir-kit-client's for an HTTP error response. */
function httpError(status: number): Error {
  return Object.assign(new Error(`HTTP ${status}`), {
    response: {
      status,
      data: {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'invalid', diagnostics: 'test' }],
      },
    },
  });
}

/** Wraps a FHIR client to count transactions and fail the first `failures` of them with `status`. */
function countingClient(
  real: FhirClient,
  failures = 0,
  status = 400
): { client: FhirClient; transactionSizes: number[] } {
  const transactionSizes: number[] = [];
  const client = new Proxy(real, {
    get: (target, property) => {
      if (property !== 'transaction') {
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      }
      return (params: Parameters<FhirClient['transaction']>[0]) => {
        const entries = (params.body as { entry?: unknown[] }).entry ?? [];
        transactionSizes.push(entries.length);
        if (transactionSizes.length <= failures) {
          return Promise.reject(httpError(status));
        }
        return target.transaction(params);
      };
    },
  });
  return { client, transactionSizes };
}

void describe('processStoredBatch', () => {
  const suffix = runSuffix();
  const models = runModels(suffix);
  const config = loadListenerConfig();
  const patients = [0, 1, 2].map((index) => `BATCH${suffix}-${index}`);
  let fhir: FhirClient;
  let sequence = 0;

  const document = (patientId: string): WorkMessage => {
    sequence += 1;
    const controlId = `B${suffix}-${sequence}`;
    return {
      _id: new ObjectId(),
      rawBase64: Buffer.from(buildOru({ controlId, patientId })).toString('base64'),
      version: 1,
      receivedAt: new Date(),
      controlId,
      header: [],
      ackMode: 'immediate',
      channel: 'default',
      patientKey: patientId,
    };
  };
  const observationsOf = (controlId: string | undefined): Promise<Observation[]> =>
    search<Observation>(fhir, 'Observation', {
      identifier: resultIdentifier(FACILITY, controlId ?? '', '1', '1'),
    });

  before(async () => {
    fhir = await requireFhir();
    for (const patientId of patients) {
      await createTestPatient(fhir, patientId);
    }
  });

  void it('writes patients in one transaction', async () => {
    const { client, transactionSizes } = countingClient(fhir);
    const documents = patients.map((patientId) => document(patientId));
    const outcomes = await processStoredBatch({ fhir: client, models, config, logger }, documents);

    assert.equal(transactionSizes.length, 1);
    for (const [index, outcome] of outcomes.entries()) {
      assert.equal(outcome.kind, 'processed', `message ${index}`);
      const [observation] = await observationsOf(documents[index]?.controlId);
      assert.ok(observation, `message ${index} has no Observation`);
      assert.ok(
        outcome.resourceIds.includes(`Observation/${observation.id ?? ''}`),
        `message ${index} lists another Observation`
      );
    }
  });

  void it('creates one card for a new model', async () => {
    const newModels = runModels(runSuffix());
    const model = newModels.find((candidate) => candidate.modelCard !== undefined);
    assert.ok(model, 'the demo catalog has no model card');
    // Several batches write the new model's first results at once, as the worker's transaction slots do.
    const batches = [0, 1, 2].map(() => patients.map((patientId) => document(patientId)));
    await Promise.all(
      batches.map((batch) => processStoredBatch({ fhir, models: newModels, config, logger }, batch))
    );

    const cardQuery = Object.fromEntries(new URLSearchParams(modelCardQuery(model)));
    const cards = await search<DocumentReference>(fhir, 'DocumentReference', cardQuery);
    assert.equal(cards.length, 1);
    const [device, ...otherDevices] = await search<Device>(fhir, 'Device', {
      identifier: `${MODEL_ID_SYSTEM}|${model.modelId}`,
    });
    assert.equal(otherDevices.length, 0);
    const cardReference = device?.extension?.find((extension) => extension.url === MODEL_CARD_EXTENSION)
      ?.valueReference?.reference;
    assert.equal(cardReference, `DocumentReference/${cards[0]?.id ?? ''}`);
  });

  void it('reports an unknown patient alone', async () => {
    const { client, transactionSizes } = countingClient(fhir);
    const known = document(patients[0] ?? '');
    const unknown = document(`UNKNOWN-${suffix}`);
    const [knownOutcome, unknownOutcome] = await processStoredBatch(
      { fhir: client, models, config, logger },
      [known, unknown]
    );

    assert.equal(transactionSizes.length, 1);
    assert.equal(knownOutcome?.kind, 'processed');
    assert.ok(unknownOutcome?.kind === 'permanent', 'the unknown patient is not a permanent failure');
    assert.match(unknownOutcome.issues[0]?.text ?? '', /Patient not found/);
    assert.equal((await observationsOf(known.controlId)).length, 1);
  });

  void it('posts one by one after a rejection', async () => {
    const { client, transactionSizes } = countingClient(fhir, 1, 400);
    const documents = patients.slice(0, 2).map((patientId) => document(patientId));
    const outcomes = await processStoredBatch({ fhir: client, models, config, logger }, documents);

    assert.equal(transactionSizes.length, 3, 'one combined transaction, then one per message');
    assert.equal((transactionSizes[0] ?? 0) > (transactionSizes[1] ?? 0), true);
    assert.deepEqual(
      outcomes.map((outcome) => outcome.kind),
      ['processed', 'processed']
    );
  });

  void it('retries every message on a server error', async () => {
    const { client, transactionSizes } = countingClient(fhir, 1, 503);
    const documents = patients.slice(0, 2).map((patientId) => document(patientId));
    const outcomes = await processStoredBatch({ fhir: client, models, config, logger }, documents);

    assert.equal(transactionSizes.length, 1);
    for (const outcome of outcomes) {
      assert.ok(outcome.kind === 'transient', 'a 503 is not transient');
      assert.match(outcome.error, /HTTP 503/);
    }
  });
});
