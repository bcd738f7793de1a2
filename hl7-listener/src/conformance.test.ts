import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createLogger, type FhirClient, type MongoHandle } from '@monitormed/common';
import { shouldSendAck } from './ack/ack-mode.js';
import type { AckCode } from './ack/ack-builder.js';
import { startListener, type ListenerHandle } from './index.js';
import { encodeFrame } from './mllp/framing.js';
import { MessageStore, type Hl7MessageDocument, type StoredDocument } from './store/message-store.js';
import { TestMllpClient, ackSegments } from './test-support/mllp-client.js';
import { requireFhir, requireMongo } from './test-support/peers.js';
import { waitFor } from '@monitormed/common';

/** Public HL7 v2 samples beside the checkout; the suite runs only where the folder exists. */
const SHARED_HL7 = new URL('../../../shared/hl7/', import.meta.url);
const PER_MESSAGE_TIMEOUT_MS = 30_000;
const logger = createLogger('hl7-listener-conformance', 'silent');

/** Lines that are not part of any message: batch envelopes and comments of message-stream files. */
const SKIPPED_LINE = /^(FHS|BHS|BTS|FTS)\||^\s*(\/\*|\*|\/\/|#)/;

/**
 * Splits a file (read as ISO 8859-1 so each character is one byte) into messages at lines starting with
 * MSH, dropping envelope and comment lines and keeping the original segment terminators.
 */
function splitMessages(content: string): string[] {
  const lines = content.match(/[^\r\n]*(\r\n|\r|\n|$)/g) ?? [];
  const messages: string[] = [];
  let current: string | undefined;
  for (const line of lines) {
    if (line === '' || SKIPPED_LINE.test(line)) {
      continue;
    }
    if (line.startsWith('MSH')) {
      if (current !== undefined) {
        messages.push(current);
      }
      current = line;
    } else if (current !== undefined) {
      current += line;
    }
  }
  if (current !== undefined) {
    messages.push(current);
  }
  // A file without MSH is sent whole: the listener must reject it, not ignore it.
  return messages.length === 0 && content.trim() !== '' ? [content] : messages;
}

/** A file holding an FHS/BHS batch envelope. */
const BATCH_HEADER = /^(FHS|BHS)\|/m;

/** Statuses after which the listener does nothing more with a message. */
const FINAL_STATUSES = new Set(['processed', 'rejected', 'failed', 'dead']);

/** MSA-1 of an ACK message, or '' when it has no MSA. */
function ackCodeOf(ack: string | undefined): string {
  return ack === undefined ? '' : (ackSegments(ack, 'MSA')[0]?.[1] ?? '');
}

/**
 * The ACK that reports how processing ended: the application ACK in enhanced mode (HL7 v2.5.1 section
 * 2.9.3), or the accept ACK when the message was rejected before processing; the only ACK otherwise.
 */
function outcomeAck(stored: Hl7MessageDocument): string | undefined {
  return stored.applicationAck ?? stored.ack ?? stored.acceptAck;
}

/**
 * The replies the listener must write on the connection for a message, in order. Enhanced mode sends the
 * accept ACK and the application ACK only when MSH-15 and MSH-16 ask for them (table 0155).
 */
function expectedWireAcks(stored: Hl7MessageDocument): string[] {
  if (stored.ackMode !== 'enhanced') {
    return stored.ack === undefined ? [] : [stored.ack];
  }
  const wire: string[] = [];
  const accept = stored.acceptAck;
  if (accept !== undefined && shouldSendAck(stored.acceptAckType ?? '', ackCodeOf(accept) as AckCode)) {
    wire.push(accept);
  }
  if (stored.applicationAck !== undefined && stored.applicationAckDelivery === 'connection') {
    wire.push(stored.applicationAck);
  }
  return wire;
}

function frameBytes(bytes: Buffer): Buffer {
  const empty = encodeFrame('');
  return Buffer.concat([empty.subarray(0, 1), bytes, empty.subarray(1)]);
}

/** Splits a batch ACK into its ACK messages (MSH to the next MSH or envelope segment). */
function splitAckMessages(reply: string): string[] {
  const acks: string[] = [];
  for (const segment of reply.split('\r').filter((line) => line !== '')) {
    if (segment.startsWith('MSH|')) {
      acks.push(`${segment}\r`);
    } else if (!/^(FHS|BHS|BTS|FTS)\|/.test(segment) && acks.length > 0) {
      acks[acks.length - 1] = `${acks.at(-1) ?? ''}${segment}\r`;
    }
  }
  return acks;
}

interface Outcome {
  file: string;
  index: number;
  ackCode: string;
  errorCodes: string[];
  text: string;
}

void describe(
  'conformance over public HL7 v2 samples',
  { skip: existsSync(SHARED_HL7) ? false : 'shared HL7 samples folder not present' },
  () => {
    let fhir: FhirClient;
    let mongo: MongoHandle | undefined;
    let listener: ListenerHandle | undefined;
    const outcomes: Outcome[] = [];

    before(async () => {
      fhir = await requireFhir();
      mongo = await requireMongo();
      listener = await startListener({
        config: {
          mllpPort: 0,
          // The suite checks each message's final outcome, not latency. The first transactions on a
          // freshly started HAPI can outlast the 10 s default on a loaded machine, and the late AE
          // would then be compared with the stored outcome instead of the mapping's answer.
          originalAckWaitMs: 60_000,
          createMissingPatients: true,
          defaultPatientIdentifierSystem: 'https://monitormed.dev/fhir/sid/conformance-mrn',
        },
        mongo,
        logger,
      });
    });

    after(async () => {
      await listener?.close();
      await mongo?.db.dropDatabase();
      await mongo?.client.close();

      const counts = new Map<string, number>();
      for (const outcome of outcomes) {
        const key = outcome.ackCode === 'AA' ? 'AA' : `${outcome.ackCode} ${outcome.errorCodes.join(',')}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      const table = [...counts.entries()].sort().map(([key, count]) => `  ${key.padEnd(12)} ${count}`);
      const details = outcomes
        .filter((o) => o.ackCode !== 'AA')
        .map((o) => `  ${o.file}#${o.index} ${o.ackCode} ${o.errorCodes.join(',')} ${o.text}`);
      console.log(
        [
          'Conformance outcomes (ACK code, ERR-3 codes: messages):',
          ...table,
          `  total        ${outcomes.length}`,
          'Messages not accepted:',
          ...details,
        ].join('\n')
      );
    });

    const files = existsSync(SHARED_HL7)
      ? readdirSync(SHARED_HL7)
          .filter((name) => !name.endsWith('.src.txt') && name !== 'INDEX.tsv' && !name.startsWith('.'))
          .sort()
      : [];

    /** Checks one ACK message (MSH/MSA/ERR) against the stored document of the message it acknowledges. */
    const checkOutcome = async (
      label: string,
      file: string,
      index: number,
      ack: string,
      stored: Hl7MessageDocument | null
    ): Promise<void> => {
      const msa = ackSegments(ack, 'MSA')[0];
      assert.ok(msa, `${label}: ACK without MSA`);
      // A CR accept ACK refuses the message for the same reasons as an AR, so it is counted as one.
      const ackCode = msa[1] === 'CR' ? 'AR' : (msa[1] ?? '');
      const errors = ackSegments(ack, 'ERR');
      const errorCodes = errors.map((err) => (err[3] ?? '').split('^')[0] ?? '');
      outcomes.push({ file, index, ackCode, errorCodes, text: errors[0]?.[8] ?? '' });
      assert.ok(stored, `${label}: message not stored`);

      if (ackCode === 'AA') {
        assert.equal(stored.status, 'processed');
        assert.ok((stored.resourceIds ?? []).length > 0, `${label}: AA without resources`);
        for (const resourceId of stored.resourceIds ?? []) {
          const [resourceType = '', id = ''] = resourceId.split('/');
          await fhir.read({ resourceType, id });
        }
      } else {
        assert.ok(ackCode === 'AE' || ackCode === 'AR', `${label}: unexpected ACK code ${ackCode}`);
        assert.ok(errors.length > 0, `${label}: ${ackCode} without ERR segment`);
        assert.ok(
          errorCodes.every((code) => /^\d{3}$/.test(code)),
          `${label}: ERR-3 without a table 0357 code`
        );
        assert.equal(stored.status, ackCode === 'AR' ? 'rejected' : 'failed');
        assert.ok((stored.reason ?? '') !== '', `${label}: stored without reason`);
      }
    };

    /**
     * Waits until the stored message with exactly these bytes reaches a final status. A resend of the
     * same bytes is not stored again (its earlier ACK is replayed), so the newest such document is the one.
     */
    const waitForFinal = async (label: string, bytes: Buffer): Promise<StoredDocument> => {
      assert.ok(mongo, 'MongoDB is not connected');
      const messages = new MessageStore(mongo.db);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      return waitFor(
        `${label} to reach a final status`,
        async () => {
          const [latest] = (await messages.findViews({ sha256 })).sort((a, b) =>
            b._id.toHexString().localeCompare(a._id.toHexString())
          );
          return latest !== undefined && FINAL_STATUSES.has(latest.status) ? latest : undefined;
        },
        PER_MESSAGE_TIMEOUT_MS,
        50
      );
    };

    for (const file of files) {
      void it(`answers every message of ${file}`, async () => {
        assert.ok(listener, 'listener did not start');
        assert.ok(mongo, 'MongoDB is not connected');
        const messages = new MessageStore(mongo.db);
        const content = readFileSync(new URL(file, SHARED_HL7)).toString('latin1');
        const client = await TestMllpClient.connect(listener.port);
        try {
          if (BATCH_HEADER.test(content)) {
            // A batch file travels in one frame and gets one batch ACK with an ACK message per message.
            const expected = splitMessages(content);
            await client.writeRaw(frameBytes(Buffer.from(content, 'latin1')));
            const reply = await client.nextReply(PER_MESSAGE_TIMEOUT_MS * expected.length);
            assert.equal(ackSegments(reply, 'BHS').length, 1, `${file}: batch ACK without BHS`);
            const acks = splitAckMessages(reply);
            assert.equal(ackSegments(reply, 'BTS')[0]?.[1], String(acks.length), `${file}: BTS-1`);

            // The batch ACK may only accept the messages; their outcomes come from processing afterwards.
            const stored = await waitFor(
              `${file} batch to reach final statuses`,
              async () => {
                const newest = await messages.collection
                  .find({}, { projection: { _id: 1 } })
                  .sort({ _id: -1 })
                  .limit(expected.length)
                  .toArray();
                const batch = (
                  await messages.findViews({ _id: { $in: newest.map((record) => record._id) } })
                ).sort((a, b) => a._id.toHexString().localeCompare(b._id.toHexString()));
                return batch.length === expected.length &&
                  batch.every((document) => FINAL_STATUSES.has(document.status))
                  ? batch
                  : undefined;
              },
              PER_MESSAGE_TIMEOUT_MS * expected.length,
              50
            );
            // MSH-15 may leave a message's ACK out of the batch ACK, so each ACK present must match a message.
            const controlIds = new Set(stored.map((document) => document.controlId));
            for (const ack of acks) {
              assert.ok(controlIds.has(ackSegments(ack, 'MSA')[0]?.[2]), `${file}: ACK for no message`);
            }
            for (const [index, document] of stored.entries()) {
              assert.equal(document.batch?.index, index, `${file}#${index}: not stored as part of the batch`);
              assert.equal(document.batch.id, stored[0]?.batch?.id, `${file}#${index}: other batch`);
              const ack = outcomeAck(document);
              assert.ok(ack !== undefined, `${file}#${index}: stored without any ACK`);
              await checkOutcome(`${file}#${index}`, file, index, ack, document);
            }
            return;
          }

          for (const [index, message] of splitMessages(content).entries()) {
            const bytes = Buffer.from(message, 'latin1');
            const label = `${file}#${index}`;
            await client.writeRaw(encodeFrame('').subarray(0, 1));
            await client.writeRaw(Buffer.concat([bytes, encodeFrame('').subarray(1)]));

            // Processing runs after the message is stored, so the suite waits for its final state. An
            // enhanced-mode message with MSH-15 NE gets no reply until (or unless) its application ACK.
            const stored = await waitForFinal(label, bytes);
            if ((stored.messageType ?? '').startsWith('ACK')) {
              // HL7 forbids acknowledging an ACK, so it is only stored with the reason it got no reply.
              assert.ok((stored.reason ?? '') !== '', `${label}: ACK message stored without reason`);
              outcomes.push({ file, index, ackCode: 'none', errorCodes: [], text: stored.reason ?? '' });
              continue;
            }
            const wire: string[] = [];
            for (const expected of expectedWireAcks(stored)) {
              const reply = await client.nextReply(PER_MESSAGE_TIMEOUT_MS);
              assert.equal(ackCodeOf(reply), ackCodeOf(expected), `${label}: ACK on the connection`);
              wire.push(reply);
            }
            const ack = outcomeAck(stored);
            assert.ok(ack !== undefined, `${label}: stored without any ACK`);
            assert.ok(
              wire.length > 0 || stored.acceptAckType === 'NE' || stored.applicationAckType === 'NE',
              `${label}: no ACK on the connection although MSH-15/16 requested one`
            );
            await checkOutcome(label, file, index, ack, stored);
          }
        } finally {
          client.close();
        }
      });
    }
  }
);
