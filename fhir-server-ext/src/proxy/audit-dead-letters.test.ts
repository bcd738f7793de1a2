/**
 * The dead-letter store of the audit queue, against the real Redis and FerretDB peers. The worker writes
 * to a loopback port where nothing listens, so every attempt fails. Covered: the stored AuditEvent, the
 * Prometheus gauge and counter, the log line, the gauge on the server's /metrics, and the command that
 * lists and replays the store against the real HAPI FHIR.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '@medplum/fhirtypes';
import {
  connectMongo,
  loadConfig,
  waitFor,
  type MongoHandle,
  type MonitorMedConfig,
} from '@monitormed/common';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { startFhirServerExt } from '../server.js';
import {
  AUDIT_DEAD_LETTERS_COLLECTION,
  createAuditDeadLetters,
  type DeadAuditEventDocument,
} from './audit-dead-letters.js';
import { runAuditDeadLetters } from '../cli/audit-dead-letters.js';
import { createAuditQueue } from './audit-queue.js';
import { closedPort } from './test-kit.js';

const runId = randomUUID().slice(0, 8);
let config: MonitorMedConfig | undefined;
let mongo: MongoHandle | undefined;

/** Returns the configuration and database; throws when the before hook failed, whose error gives the reason. */
function started(): { config: MonitorMedConfig; mongo: MongoHandle } {
  if (config === undefined || mongo === undefined) {
    throw new Error('The test setup did not start; see the before hook error.');
  }
  return { config, mongo };
}

function auditEvent(id: string): AuditEvent {
  return {
    resourceType: 'AuditEvent',
    id,
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    recorded: new Date().toISOString(),
    agent: [{ who: { display: 'test' }, requestor: true }],
    source: { observer: { display: 'MonitorMed fhir-server-ext' } },
  };
}

/** Log lines parsed from a pino logger that writes to memory. */
function memoryLogger(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      callback();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

void describe('audit dead letters', () => {
  before(async () => {
    config = { ...loadConfig(), logLevel: 'warn', mongoDatabase: `monitormed_test_audit_${runId}` };
    mongo = await connectMongo(config, 10_000);
  });

  after(async () => {
    // The database belongs to this run only.
    await mongo?.db.dropDatabase();
    await mongo?.client.close();
  });

  void it('failed job goes to the store', async () => {
    const setup = started();
    const { log, lines } = memoryLogger();
    const registry = new Registry();
    const deadLetters = createAuditDeadLetters(setup.config);
    const prefix = `mmtest-auditdl-${runId}`;
    const queue = createAuditQueue({
      redisUrl: setup.config.redisUrl,
      prefix,
      fhirBaseUrl: `http://127.0.0.1:${await closedPort()}/fhir`,
      queueTimeoutMs: 5_000,
      writeTimeoutMs: 2_000,
      retry: { attempts: 2, backoffMs: 10 },
      deadLetters,
      metricsRegistry: registry,
      log,
    });
    const id = `dead-${runId}`;
    try {
      await queue.add(auditEvent(id));

      const stored = await waitFor(
        'the dead AuditEvent in MongoDB',
        async () =>
          (await setup.mongo.db
            .collection<DeadAuditEventDocument>(AUDIT_DEAD_LETTERS_COLLECTION)
            .findOne({ _id: id })) ?? undefined,
        20_000
      );
      assert.equal(stored.auditEvent.id, id);
      assert.equal(stored.attemptsMade, 2);
      assert.equal(stored.attempts, 2);
      assert.match(stored.error, /fetch failed/);

      const metrics = await registry.metrics();
      assert.match(metrics, /^monitormed_audit_event_dead_letters 1$/m);
      // One record for two failed attempts: the first attempt was retried, not stored.
      assert.match(metrics, /^monitormed_audit_events_dead_lettered_total 1$/m);

      const retried = lines.filter((line) => line['msg'] === 'Writing an AuditEvent failed; bull retries it');
      assert.equal(retried.length, 1);
      const dead = lines.find((line) => line['deadLetterCount'] !== undefined);
      assert.ok(dead !== undefined, `no dead-letter log line in ${JSON.stringify(lines)}`);
      assert.equal(dead['level'], 50);
      assert.equal(dead['jobId'], id);
      assert.equal(dead['auditEventId'], id);
      assert.equal(dead['deadLetterCount'], 1);
      assert.equal(dead['attempt'], 2);
    } finally {
      await queue.queue.obliterate({ force: true });
      await queue.close();
      await deadLetters.close();
    }
  });

  void it('server metrics show the store', async () => {
    const setup = started();
    const server = await startFhirServerExt({
      config: setup.config,
      port: 0,
      skipSubscription: true,
      queuePrefix: `mmtest-auditdl-server-${runId}`,
      auditWorker: false,
    });
    try {
      const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      assert.equal(response.status, 200);
      // The first test left one AuditEvent in this run's database.
      assert.match(await response.text(), /^monitormed_audit_event_dead_letters 1$/m);
    } finally {
      await server.close();
    }
  });

  void it('replay keeps events that still fail', async () => {
    const setup = started();
    const lines: string[] = [];
    const unreachable = { ...setup.config, fhirBaseUrl: `http://127.0.0.1:${await closedPort()}/fhir` };

    const code = await runAuditDeadLetters(['replay'], (line) => lines.push(line), unreachable);
    assert.equal(code, 1);
    assert.match(lines[0] ?? '', /^Wrote 0 AuditEvent\(s\) .*; 1 still failing\.$/);
    assert.match(lines[1] ?? '', new RegExp(`^dead-${runId}: fetch failed`));
    const stored = await setup.mongo.db
      .collection<DeadAuditEventDocument>(AUDIT_DEAD_LETTERS_COLLECTION)
      .countDocuments({});
    assert.equal(stored, 1);
  });

  void it('replay writes and empties the store', async () => {
    const setup = started();
    const id = `dead-${runId}`;
    const listed: string[] = [];
    assert.equal(await runAuditDeadLetters(['list'], (line) => listed.push(line), setup.config), 0);
    assert.equal(listed[0], `1 dead AuditEvent(s) in database ${setup.config.mongoDatabase}`);
    assert.match(listed[1] ?? '', new RegExp(`^${id}  failed .* after 2/2 attempts: fetch failed`));

    const json: string[] = [];
    assert.equal(await runAuditDeadLetters(['list', '--json'], (line) => json.push(line), setup.config), 0);
    const parsed = JSON.parse(json[0] ?? '{}') as { database: string; auditEvents: { _id: string }[] };
    assert.equal(parsed.database, setup.config.mongoDatabase);
    assert.deepEqual(
      parsed.auditEvents.map((event) => event._id),
      [id]
    );

    const lines: string[] = [];
    assert.equal(
      await runAuditDeadLetters(['replay', '--json'], (line) => lines.push(line), setup.config),
      0
    );
    assert.deepEqual(JSON.parse(lines[0] ?? '{}'), { written: [id], failed: [] });

    const written = await fetch(`${setup.config.fhirBaseUrl}/AuditEvent/${id}`, {
      headers: { accept: 'application/fhir+json' },
    });
    assert.equal(written.status, 200);
    const stored = await setup.mongo.db
      .collection<DeadAuditEventDocument>(AUDIT_DEAD_LETTERS_COLLECTION)
      .countDocuments({});
    assert.equal(stored, 0);
  });

  void it('command rejects unknown input', async () => {
    const lines: string[] = [];
    assert.equal(await runAuditDeadLetters(['purge'], (line) => lines.push(line)), 2);
    assert.match(lines[0] ?? '', /^Unknown command "purge"\.\nUsage: audit-dead-letters/);
    assert.equal(await runAuditDeadLetters(['list', '--limit', 'x'], (line) => lines.push(line)), 2);
    assert.match(lines[1] ?? '', /--limit must be a positive whole number, not "x"/);
  });
});
