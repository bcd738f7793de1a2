import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Observation } from '@medplum/fhirtypes';
import { createLogger, type FhirClient, type MongoHandle } from '@monitormed/common';
import type { ChannelConfig } from '../channels/channels.js';
import type { ListenerConfig } from '../config.js';
import { startListener, type ListenerHandle } from '../index.js';
import type { MessageStore } from '../store/message-store.js';
import { FACILITY, resultIdentifier, search } from '../test-support/fhir.js';
import { TestMllpClient, ackSegments } from '../test-support/mllp-client.js';
import { buildOru, createTestPatient, messagesOf, waitForStatus } from '../test-support/pipeline-harness.js';
import { requireFhir, requireMongo, runSuffix } from '../test-support/peers.js';

const logger = createLogger('hl7-listener-test', 'silent');

function msa(ack: string): string[] {
  return (ackSegments(ack, 'MSA')[0] ?? []).slice(1, 3);
}

void describe('duplicate messages', () => {
  const suffix = runSuffix();
  const patientId = `DUP${suffix}`;
  let fhir: FhirClient;
  let mongo: MongoHandle | undefined;
  let messages: MessageStore;
  const listeners: ListenerHandle[] = [];
  const clients: TestMllpClient[] = [];
  let sequence = 0;
  const nextControlId = (): string => {
    sequence += 1;
    return `U${suffix}-${sequence}`;
  };

  const start = async (config: Partial<ListenerConfig> = {}): Promise<ListenerHandle> => {
    assert.ok(mongo, 'MongoDB is not connected');
    const listener = await startListener({
      config: { mllpPort: 0, pollIntervalMs: 50, ...config },
      mongo,
      logger,
    });
    listeners.push(listener);
    return listener;
  };
  const connect = async (listener: ListenerHandle): Promise<TestMllpClient> => {
    const client = await TestMllpClient.connect(listener.port);
    clients.push(client);
    return client;
  };
  const observations = (controlId: string): Promise<Observation[]> =>
    search<Observation>(fhir, 'Observation', { identifier: resultIdentifier(FACILITY, controlId, '1', '1') });
  const policy = (duplicatePolicy: ChannelConfig['duplicatePolicy']): ChannelConfig[] => [
    { name: 'dup-test', ackMode: 'original', duplicatePolicy },
  ];

  before(async () => {
    fhir = await requireFhir();
    mongo = await requireMongo();
    messages = messagesOf(mongo);
    await createTestPatient(fhir, patientId);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) {
      client.close();
    }
    for (const listener of listeners.splice(0)) {
      await listener.close();
    }
  });

  after(async () => {
    await mongo?.db.dropDatabase();
    await mongo?.client.close();
  });

  void it('replays the ACK for the same bytes', async () => {
    const client = await connect(await start());
    const controlId = nextControlId();
    const text = buildOru({ controlId, patientId });
    const first = await client.send(text);
    assert.deepEqual(msa(first), ['AA', controlId]);

    const second = await client.send(text);
    assert.equal(second, first);
    assert.equal(await messages.collection.countDocuments({ controlId }), 1);
    const [observation, ...others] = await observations(controlId);
    assert.equal(others.length, 0);
    assert.equal(observation?.meta?.versionId, '1');
  });

  void it('replays both enhanced-mode ACKs', async () => {
    const client = await connect(await start());
    const controlId = nextControlId();
    const text = buildOru({ controlId, patientId, acceptAckType: 'AL', applicationAckType: 'AL' });
    const accept = await client.send(text);
    const application = await client.nextReply();
    assert.deepEqual(msa(application), ['AA', controlId]);
    await waitForStatus(messages, controlId, ['processed']);

    assert.equal(await client.send(text), accept);
    assert.equal(await client.nextReply(), application);
    assert.equal(await messages.collection.countDocuments({ controlId }), 1);
  });

  void it('replays AA of a message in progress', async () => {
    const client = await connect(
      await start({ channels: [{ name: 'fast', ackMode: 'immediate', duplicatePolicy: 'reject' }] })
    );
    const controlId = nextControlId();
    const text = buildOru({ controlId, patientId });
    const first = await client.send(text);
    const second = await client.send(text);
    assert.equal(second, first);
    await waitForStatus(messages, controlId, ['processed']);
    assert.equal(await messages.collection.countDocuments({ controlId }), 1);
    assert.equal((await observations(controlId)).length, 1);
  });

  void it('stores concurrent copies once', async () => {
    const listener = await start();
    const [a, b] = [await connect(listener), await connect(listener)];
    const controlId = nextControlId();
    const text = buildOru({ controlId, patientId });
    const acks = await Promise.all([a.send(text), b.send(text)]);
    assert.deepEqual(
      acks.map((ack) => msa(ack)[0]),
      ['AA', 'AA']
    );
    assert.equal(await messages.collection.countDocuments({ controlId }), 1);
    assert.equal((await observations(controlId)).length, 1);
  });

  void it('rejects different bytes with 205', async () => {
    const client = await connect(await start({ channels: policy('reject') }));
    const controlId = nextControlId();
    assert.deepEqual(msa(await client.send(buildOru({ controlId, patientId }))), ['AA', controlId]);

    const reply = await client.send(buildOru({ controlId, patientId, value: '0.31' }));
    assert.deepEqual(msa(reply), ['AR', controlId]);
    const err = ackSegments(reply, 'ERR')[0];
    assert.equal(err?.[2], 'MSH^1^10');
    assert.equal(err[3], '205^Duplicate key identifier^HL70357');

    const stored = (await messages.findViews({ controlId })).sort(
      (a, b) => a.receivedAt.getTime() - b.receivedAt.getTime()
    );
    assert.deepEqual(
      stored.map((document) => document.status),
      ['processed', 'rejected']
    );
    assert.match(stored[1]?.dedupKey ?? '', /^rejected:/);
    const [observation] = await observations(controlId);
    assert.equal(observation?.valueQuantity?.value, 0.82);
  });

  void it('applies different bytes as a correction', async () => {
    const client = await connect(await start({ channels: policy('correction') }));
    const controlId = nextControlId();
    assert.deepEqual(msa(await client.send(buildOru({ controlId, patientId }))), ['AA', controlId]);
    const [original] = await observations(controlId);

    const reply = await client.send(buildOru({ controlId, patientId, value: '0.31' }));
    assert.deepEqual(msa(reply), ['AA', controlId]);
    const [corrected, ...others] = await observations(controlId);
    assert.equal(others.length, 0);
    assert.equal(corrected?.id, original?.id);
    assert.equal(corrected?.valueQuantity?.value, 0.31);
    assert.equal(corrected.meta?.versionId, '2');
    assert.equal(corrected.interpretation?.[0]?.coding?.[0]?.code, 'NEG');

    const versions = (await messages.findViews({ controlId })).sort((a, b) => a.version - b.version);
    assert.deepEqual(
      versions.map((document) => [document.version, document.status]),
      [
        [1, 'processed'],
        [2, 'processed'],
      ]
    );
  });
});
