import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Observation } from '@medplum/fhirtypes';
import { createLogger, type FhirClient, type MongoHandle } from '@monitormed/common';
import type { ChannelConfig } from '../channels/channels.js';
import type { ListenerConfig } from '../config.js';
import { startListener, type ListenerHandle } from '../index.js';
import type { MessageStore } from '../store/message-store.js';
import { FACILITY, resultIdentifier, search } from '../test-support/fhir.js';
import { ReplyTimeoutError, TestMllpClient, ackSegments } from '../test-support/mllp-client.js';
import {
  buildOru,
  createSwitchableFhir,
  createTestPatient,
  messagesOf,
  readMessage,
  startMllpSink,
  waitForStatus,
  waitUntil,
} from '../test-support/pipeline-harness.js';
import { requireFhir, requireMongo, runSuffix } from '../test-support/peers.js';

const logger = createLogger('hl7-listener-test', process.env['L1_DEBUG'] === undefined ? 'silent' : 'debug');

/** MSA-1 and MSA-2 of a reply. */
function msa(ack: string): string[] {
  return (ackSegments(ack, 'MSA')[0] ?? []).slice(1, 3);
}

void describe('ACK modes', () => {
  const suffix = runSuffix();
  const patientId = `ACK${suffix}`;
  let fhir: FhirClient;
  let mongo: MongoHandle | undefined;
  let messages: MessageStore;
  const listeners: ListenerHandle[] = [];
  const clients: TestMllpClient[] = [];
  let sequence = 0;
  const nextControlId = (): string => {
    sequence += 1;
    return `K${suffix}-${sequence}`;
  };

  const connectTo = async (
    config: Partial<ListenerConfig> = {},
    fhirClient?: FhirClient
  ): Promise<{ listener: ListenerHandle; client: TestMllpClient }> => {
    assert.ok(mongo, 'MongoDB is not connected');
    const listener = await startListener({
      config: { mllpPort: 0, retryBaseMs: 50, retryMaxDelayMs: 200, pollIntervalMs: 50, ...config },
      mongo,
      logger,
      ...(fhirClient === undefined ? {} : { fhirClient }),
    });
    listeners.push(listener);
    const client = await TestMllpClient.connect(listener.port);
    clients.push(client);
    return { listener, client };
  };
  const channel = (fields: Partial<ChannelConfig>): ChannelConfig[] => [
    { name: 'test', ackMode: 'enhanced', duplicatePolicy: 'reject', ...fields },
  ];
  const observationCount = async (controlId: string): Promise<number> =>
    (
      await search<Observation>(fhir, 'Observation', {
        identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
      })
    ).length;

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

  void it('enhanced AL/AL sends CA then AA', async () => {
    const { client } = await connectTo();
    const controlId = nextControlId();
    const accept = await client.send(
      buildOru({ controlId, patientId, acceptAckType: 'AL', applicationAckType: 'AL' })
    );
    assert.deepEqual(msa(accept), ['CA', controlId]);
    assert.equal(ackSegments(accept, 'MSH')[0]?.[11], '2.5.1');

    const application = await client.nextReply();
    assert.deepEqual(msa(application), ['AA', controlId]);
    assert.notEqual(ackSegments(application, 'MSH')[0]?.[9], ackSegments(accept, 'MSH')[0]?.[9]);

    const stored = await waitForStatus(messages, controlId, ['processed']);
    assert.equal(stored.ackMode, 'enhanced');
    assert.equal(stored.acceptAck, accept);
    assert.equal(stored.applicationAck, application);
    assert.equal(stored.applicationAckDelivery, 'connection');
    assert.equal(await observationCount(controlId), 1);
  });

  void it('enhanced NE/AL sends only the application ACK', async () => {
    const { client } = await connectTo();
    const controlId = nextControlId();
    const first = await client.send(
      buildOru({ controlId, patientId, acceptAckType: 'NE', applicationAckType: 'AL' })
    );
    assert.deepEqual(msa(first), ['AA', controlId]);
    const stored = await waitForStatus(messages, controlId, ['processed']);
    assert.match(stored.acceptAck ?? '', /\rMSA\|CA\|/);
  });

  void it('enhanced ER/ER sends nothing on success', async () => {
    const { client } = await connectTo();
    const controlId = nextControlId();
    await assert.rejects(
      client.send(buildOru({ controlId, patientId, acceptAckType: 'ER', applicationAckType: 'ER' }), 1_500),
      ReplyTimeoutError
    );
    const stored = await waitForStatus(messages, controlId, ['processed']);
    assert.equal(stored.applicationAckDelivery, 'not-requested');
    assert.match(stored.applicationAck ?? '', /\rMSA\|AA\|/);
  });

  void it('enhanced SU/ER sends CA then AE', async () => {
    const { client } = await connectTo();
    const controlId = nextControlId();
    const accept = await client.send(
      buildOru({ controlId, patientId: `UNKNOWN-${suffix}`, acceptAckType: 'SU', applicationAckType: 'ER' })
    );
    assert.deepEqual(msa(accept), ['CA', controlId]);
    const application = await client.nextReply();
    assert.deepEqual(msa(application), ['AE', controlId]);
    assert.equal(ackSegments(application, 'ERR')[0]?.[2], 'PID^1^3');
    assert.equal(ackSegments(application, 'ERR')[0]?.[3], '204^Unknown key identifier^HL70357');
    const stored = await waitForStatus(messages, controlId, ['failed']);
    assert.equal(stored.applicationAckDelivery, 'connection');
  });

  void it('enhanced CR for an unsupported type', async () => {
    const { client } = await connectTo();
    const controlId = nextControlId();
    const text = buildOru({ controlId, patientId, acceptAckType: 'AL', applicationAckType: 'AL' }).replace(
      'ORU^R01^ORU_R01',
      'ADT^A01^ADT_A01'
    );
    const reply = await client.send(text);
    assert.deepEqual(msa(reply), ['CR', controlId]);
    assert.equal(ackSegments(reply, 'ERR')[0]?.[3], '200^Unsupported message type^HL70357');
    await assert.rejects(client.nextReply(500), ReplyTimeoutError);
    const stored = await readMessage(messages, controlId);
    assert.equal(stored?.status, 'rejected');
    assert.equal(stored.acceptAck, reply);
  });

  void it('enhanced channel without MSH-15/16', async () => {
    const { client } = await connectTo({ channels: channel({ sendingApplication: 'SEPSIS*' }) });
    const controlId = nextControlId();
    assert.deepEqual(msa(await client.send(buildOru({ controlId, patientId }))), ['CA', controlId]);
    assert.deepEqual(msa(await client.nextReply()), ['AA', controlId]);
    assert.equal((await readMessage(messages, controlId))?.channel, 'test');
  });

  void it('original channel ignores other senders', async () => {
    const { client } = await connectTo({ channels: channel({ sendingApplication: 'OTHERAI' }) });
    const controlId = nextControlId();
    assert.deepEqual(msa(await client.send(buildOru({ controlId, patientId }))), ['AA', controlId]);
    assert.equal((await readMessage(messages, controlId))?.channel, 'default');
  });

  void it('sends the application ACK to the return address', async () => {
    const sink = await startMllpSink();
    try {
      const switchable = await createSwitchableFhir();
      const { client } = await connectTo(
        { channels: channel({ returnAddress: { host: '127.0.0.1', port: sink.port } }) },
        switchable.client
      );
      const controlId = nextControlId();
      assert.deepEqual(msa(await client.send(buildOru({ controlId, patientId }))), ['CA', controlId]);
      client.close();
      await waitUntil('the connection to close', () => Promise.resolve(client.closed ? true : undefined));

      switchable.connect();
      const [application] = await waitUntil('the application ACK at the return address', () =>
        Promise.resolve(sink.messages.length > 0 ? sink.messages : undefined)
      );
      assert.deepEqual(msa(application ?? ''), ['AA', controlId]);
      const stored = await waitForStatus(messages, controlId, ['processed']);
      assert.equal(stored.applicationAckDelivery, 'return-address');
    } finally {
      await sink.close();
    }
  });

  void it('dead-letters an AE it cannot deliver', async () => {
    const switchable = await createSwitchableFhir();
    const { client } = await connectTo({ channels: channel({}) }, switchable.client);
    const controlId = nextControlId();
    await client.send(buildOru({ controlId, patientId: `UNKNOWN-${suffix}` }));
    client.close();
    await waitUntil('the connection to close', () => Promise.resolve(client.closed ? true : undefined));

    switchable.connect();
    const dead = await waitForStatus(messages, controlId, ['dead']);
    assert.equal(dead.applicationAckDelivery, 'undelivered');
    assert.match(dead.applicationAck ?? '', /\rMSA\|AE\|/);
    assert.match(dead.reason ?? '', /Patient not found/);
  });

  void it('immediate mode answers AA before parsing', async () => {
    const { client } = await connectTo({
      channels: [{ name: 'fast', ackMode: 'immediate', duplicatePolicy: 'reject' }],
    });
    const controlId = nextControlId();
    const text = buildOru({ controlId, patientId }).replace('ORU^R01^ORU_R01', 'ADT^A01^ADT_A01');
    const reply = await client.send(text);
    assert.deepEqual(msa(reply), ['AA', controlId]);
    assert.equal(ackSegments(reply, 'ERR').length, 0);

    const dead = await waitForStatus(messages, controlId, ['dead']);
    assert.equal(dead.ack, reply);
    assert.equal(dead.errors?.[0]?.errorCode, '200');
  });

  void it('stores a received ACK without replying', async () => {
    const { client } = await connectTo();
    const controlId = nextControlId();
    const ack = `MSH|^~\\&|PEER|PEERFAC|MONITORMED|MONITORMED|20260101120000||ACK^R01^ACK|${controlId}|P|2.5.1\rMSA|AA|X1\r`;
    await assert.rejects(client.send(ack, 1_000), ReplyTimeoutError);
    // It takes no part in duplicate detection, so it is stored as version 0.
    const stored = await readMessage(messages, controlId);
    assert.equal(stored?.status, 'processed');
    assert.match(stored.reason ?? '', /forbids acknowledging an ACK/);
    assert.deepEqual(stored.resourceIds, []);
  });

  void it('enhanced batch gets CA per message', async () => {
    const { client } = await connectTo({ channels: channel({}) });
    const first = nextControlId();
    const second = nextControlId();
    const batch = [
      'BHS|^~\\&|SEPSISAI|MMDEMOHOSP|MONITORMED|MMDEMOHOSP|20260314093005+0100||||B1',
      buildOru({ controlId: first, patientId }).trimEnd(),
      buildOru({ controlId: second, patientId }).trimEnd(),
      'BTS|2',
    ].join('\r');
    const reply = await client.send(`${batch}\r`);
    assert.deepEqual(
      ackSegments(reply, 'MSA').map((segment) => segment.slice(1, 3)),
      [
        ['CA', first],
        ['CA', second],
      ]
    );
    const applicationAcks = [await client.nextReply(), await client.nextReply()].map((ack) => msa(ack));
    assert.deepEqual(applicationAcks, [
      ['AA', first],
      ['AA', second],
    ]);
  });

  void it('enhanced CE when MongoDB is down', async () => {
    const ownMongo = await requireMongo();
    const listener = await startListener({
      config: { mllpPort: 0, channels: channel({}) },
      mongo: ownMongo,
      logger,
    });
    listeners.push(listener);
    const client = await TestMllpClient.connect(listener.port);
    clients.push(client);
    await ownMongo.client.close();

    const controlId = nextControlId();
    const reply = await client.send(buildOru({ controlId, patientId }));
    assert.deepEqual(msa(reply), ['CE', controlId]);
    assert.match(ackSegments(reply, 'ERR')[0]?.[8] ?? '', /could not be stored/);
  });
});
