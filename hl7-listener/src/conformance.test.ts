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

    for (const file of files) {
      void it(`answers every message of ${file}`, async () => {
        assert.ok(listener, 'listener did not start');
        assert.ok(mongo, 'MongoDB is not connected');
        const messages = mongo.db.collection<Hl7MessageDocument>(COLLECTIONS.hl7Messages);
        const content = readFileSync(new URL(file, SHARED_HL7)).toString('latin1');
        const client = await TestMllpClient.connect(listener.port);
        try {
          for (const [index, message] of splitMessages(content).entries()) {
            const bytes = Buffer.from(message, 'latin1');
            await client.writeRaw(encodeFrame('').subarray(0, 1));
            await client.writeRaw(Buffer.concat([bytes, encodeFrame('').subarray(1)]));
            const ack = await client.nextReply(PER_MESSAGE_TIMEOUT_MS);

            const msa = ackSegments(ack, 'MSA')[0];
            assert.ok(msa, `${file}#${index}: ACK without MSA`);
            const ackCode = msa[1] ?? '';
            const errors = ackSegments(ack, 'ERR');
            const errorCodes = errors.map((err) => (err[3] ?? '').split('^')[0] ?? '');
            outcomes.push({ file, index, ackCode, errorCodes, text: errors[0]?.[8] ?? '' });

            const stored = await messages.find({}).sort({ _id: -1 }).limit(1).next();
            assert.ok(stored, `${file}#${index}: message not stored`);
            assert.equal(
              stored.byteLength,
              bytes.length,
              `${file}#${index}: last stored message is not this one`
            );

            if (ackCode === 'AA') {
              assert.equal(stored.status, 'processed');
              assert.ok((stored.resourceIds ?? []).length > 0, `${file}#${index}: AA without resources`);
              for (const resourceId of stored.resourceIds ?? []) {
                const [resourceType = '', id = ''] = resourceId.split('/');
                await fhir.read({ resourceType, id });
              }
            } else {
              assert.ok(
                ackCode === 'AE' || ackCode === 'AR',
                `${file}#${index}: unexpected ACK code ${ackCode}`
              );
              assert.ok(errors.length > 0, `${file}#${index}: ${ackCode} without ERR segment`);
              assert.ok(
                errorCodes.every((code) => /^\d{3}$/.test(code)),
                `${file}#${index}: ERR-3 without a table 0357 code`
              );
              assert.equal(stored.status, ackCode === 'AR' ? 'rejected' : 'failed');
              assert.ok((stored.reason ?? '') !== '', `${file}#${index}: stored without reason`);
            }
          }
        } finally {
          client.close();
        }
      });
    }
  }
);
