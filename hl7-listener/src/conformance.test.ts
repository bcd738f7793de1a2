import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { COLLECTIONS, createLogger, type FhirClient, type MongoHandle } from '@monitormed/common';
import { startListener, type ListenerHandle } from './index.js';
import { encodeFrame } from './mllp/framing.js';
import type { Hl7MessageDocument } from './store/message-store.js';
import { TestMllpClient, ackSegments } from './test-support/mllp-client.js';
import { requireFhir, requireMongo } from './test-support/peers.js';

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
      const ackCode = msa[1] ?? '';
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

    for (const file of files) {
      void it(`answers every message of ${file}`, async () => {
        assert.ok(listener, 'listener did not start');
        assert.ok(mongo, 'MongoDB is not connected');
        const messages = mongo.db.collection<Hl7MessageDocument>(COLLECTIONS.hl7Messages);
        const content = readFileSync(new URL(file, SHARED_HL7)).toString('latin1');
        const client = await TestMllpClient.connect(listener.port);
        try {
          if (BATCH_HEADER.test(content)) {
            // A batch file travels in one frame and gets one batch ACK with an ACK message per message.
            const expected = splitMessages(content);
            await client.writeRaw(frameBytes(Buffer.from(content, 'latin1')));
            const reply = await client.nextReply(PER_MESSAGE_TIMEOUT_MS * expected.length);
            assert.equal(ackSegments(reply, 'BHS').length, 1, `${file}: batch ACK without BHS`);
            assert.equal(ackSegments(reply, 'BTS')[0]?.[1], String(expected.length), `${file}: BTS-1`);
            const acks = splitAckMessages(reply);
            assert.equal(acks.length, expected.length, `${file}: one ACK message per message`);

            const stored = (
              await messages.find({}).sort({ _id: -1 }).limit(expected.length).toArray()
            ).reverse();
            for (const [index, ack] of acks.entries()) {
              const document = stored[index] ?? null;
              assert.equal(
                document?.batch?.index,
                index,
                `${file}#${index}: not stored as part of the batch`
              );
              assert.equal(document.batch.id, stored[0]?.batch?.id, `${file}#${index}: other batch`);
              await checkOutcome(`${file}#${index}`, file, index, ack, document);
            }
            return;
          }

          for (const [index, message] of splitMessages(content).entries()) {
            const bytes = Buffer.from(message, 'latin1');
            await client.writeRaw(encodeFrame('').subarray(0, 1));
            await client.writeRaw(Buffer.concat([bytes, encodeFrame('').subarray(1)]));
            const ack = await client.nextReply(PER_MESSAGE_TIMEOUT_MS);

            const stored = await messages.find({}).sort({ _id: -1 }).limit(1).next();
            assert.equal(
              stored?.byteLength,
              bytes.length,
              `${file}#${index}: last stored message is not this one`
            );
            await checkOutcome(`${file}#${index}`, file, index, ack, stored);
          }
        } finally {
          client.close();
        }
      });
    }
  }
);
