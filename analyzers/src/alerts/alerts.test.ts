/**
 * Alert rules end to end against the real FerretDB and HAPI: an alert opens after k breaching windows, not
 * below the minimum n, once per rule and subgroup, and resolves when the metric recovers. The webhook goes
 * to a loopback HTTP server and the email to a loopback SMTP server (smtp-server), which record what they
 * received.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Flag, OperationOutcome, Resource } from '@medplum/fhirtypes';
import {
  ALERT_COLLECTIONS,
  COLLECTIONS,
  FLAG_ID_SYSTEM,
  MONITORMED_BASE,
  connectMongo,
  createLogger,
  readAlertHistory,
  type AiModelDefinition,
  type AlertDeliveryDocument,
  type AlertStateDocument,
  type MongoHandle,
} from '@monitormed/common';
import { SMTPServer } from 'smtp-server';
import { createTestRun, dropTestDatabase, requirePeers } from '../testing/stack.js';
import { AlertService } from './alert-service.js';
import { classifyWindow, decideRule } from './evaluate-rule.js';
import type { AlertRule } from './rules.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhookBody } from './webhook.js';

const run = createTestRun();
const SECRET = `secret-${run.runId}`;
const DAYS = ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05'];

const model: AiModelDefinition = {
  modelId: `alert-model-${run.runId}`,
  name: `Alert test model ${run.runId}`,
  version: '1.0.0',
  manufacturer: 'MonitorMed tests',
  kind: 'Machine-Learning-Models',
  intendedUse: 'Synthetic model for alert tests',
  match: {},
  outputCode: { system: 'https://monitormed.dev/fhir/CodeSystem/test', code: 'TEST-RISK' },
  positiveThreshold: 0.5,
};

const rule: AlertRule = {
  ruleId: `sensitivity-low-${run.runId}`,
  modelId: model.modelId,
  metric: 'performance-sensitivity',
  subgroups: ['all', 'sex:female'],
  direction: 'below',
  threshold: 0.7,
  consecutiveWindows: 2,
  minN: 30,
  response: { owner: 'AI governance committee', action: 'Review the missed cases within 2 working days.' },
};

interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
}

const webhooks: ReceivedWebhook[] = [];
const emails: string[] = [];
let webhookRequests = 0;
let webhookServer: Server;
let smtpServer: SMTPServer;
let mongo: MongoHandle;
let service: AlertService;

function listen(server: Server | SMTPServer): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(err);
    };
    server.once('error', onError);
    server.listen(0, '127.0.0.1', () => {
      const address =
        (server as unknown as { server?: Server }).server?.address() ?? (server as Server).address();
      resolve((address as AddressInfo).port);
    });
  });
}

async function writeMetric(subgroup: string, window: string, value: number, n: number): Promise<void> {
  await mongo.db.collection(COLLECTIONS.metrics).updateOne(
    { modelId: model.modelId, modelVersion: model.version, metric: rule.metric, subgroup, window },
    {
      $set: {
        granularity: 'day',
        windowStart: new Date(`${window}T00:00:00Z`),
        value,
        n,
        computedAt: new Date(),
      },
    },
    { upsert: true }
  );
}

async function readFlag(reference: string): Promise<Flag> {
  const [, id] = reference.split('/');
  return (await run.fhir.read({ resourceType: 'Flag', id: id ?? '' })) as unknown as Flag;
}

/** Reads a resource by its `Type/id` reference. */
async function readResource(reference: string): Promise<Resource> {
  const [resourceType, id] = reference.split('/');
  return (await run.fhir.read({ resourceType: resourceType ?? '', id: id ?? '' })) as unknown as Resource;
}

/** Runs a `$validate` call on HAPI and returns the messages of its error and fatal issues. */
async function validationErrors(path: string, resource: Resource): Promise<string[]> {
  const validation = await fetch(`${run.config.fhirBaseUrl.replace(/\/$/, '')}/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' },
    body: JSON.stringify(resource),
    signal: AbortSignal.timeout(60_000),
  });
  const outcome = (await validation.json()) as OperationOutcome;
  return outcome.issue
    .filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
    .map((issue) => issue.diagnostics ?? issue.code);
}

before(async () => {
  await requirePeers(run.config);
  mongo = await connectMongo(run.config);

  // The first webhook request gets 503, so the delivery must retry.
  webhookServer = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      webhookRequests += 1;
      if (webhookRequests === 1) {
        response.writeHead(503).end();
        return;
      }
      webhooks.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(204).end();
    });
  });
  smtpServer = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        emails.push(Buffer.concat(chunks).toString('utf8'));
        callback();
      });
    },
  });
  const webhookPort = await listen(webhookServer);
  const smtpPort = await listen(smtpServer);

  service = new AlertService({
    db: mongo.db,
    fhir: run.fhir,
    rules: [rule],
    models: [model],
    log: createLogger('alerts-test'),
    notifications: {
      webhook: {
        url: `http://127.0.0.1:${String(webhookPort)}/hook`,
        secret: SECRET,
        maxAttempts: 3,
        baseDelayMs: 50,
        timeoutMs: 5000,
      },
      email: {
        host: '127.0.0.1',
        port: smtpPort,
        secure: false,
        ignoreTls: true,
        from: 'monitormed@example.org',
        to: ['compliance@example.org'],
        maxAttempts: 2,
        timeoutMs: 5000,
      },
    },
  });
});

after(async () => {
  await new Promise<void>((resolve) => {
    webhookServer.close(() => {
      resolve();
    });
  });
  await new Promise<void>((resolve) => {
    smtpServer.close(() => {
      resolve();
    });
  });
  await mongo.client.close();
  await dropTestDatabase(run.config);
});

void describe('alert rule decisions', () => {
  void it('window below min n is insufficient-data', () => {
    assert.equal(classifyWindow(rule, { window: DAYS[0] ?? '', value: 0.1, n: 29 }), 'insufficient-data');
  });

  void it('interval reaching the threshold does not breach', () => {
    const point = { window: DAYS[0] ?? '', value: 0.6, n: 40, lower: 0.45, upper: 0.75 };
    assert.equal(classifyWindow(rule, point), 'ok');
    assert.equal(classifyWindow(rule, { ...point, upper: 0.69 }), 'breach');
  });

  void it('insufficient window breaks the run', () => {
    const series = [
      { window: 'a', value: 0.5, n: 50 },
      { window: 'b', value: 0.5, n: 5 },
      { window: 'c', value: 0.5, n: 50 },
    ];
    assert.equal(decideRule(rule, series, false).action, 'none');
  });
});

void describe('alerts job', () => {
  void it('opens, de-duplicates and resolves with Flag, webhook and email', async () => {
    const values: [number, number][] = [
      [0.9, 50],
      [0.6, 50],
      [0.5, 50],
      [0.55, 50],
      [0.85, 50],
    ];
    for (const [index, day] of DAYS.entries()) {
      const [value, n] = values[index] ?? [0, 0];
      await writeMetric('all', day, value, n);
      // The female subgroup breaches badly but never reaches min n.
      await writeMetric('sex:female', day, 0.2, 12);
    }

    const decisions: string[] = [];
    for (const day of DAYS.slice(0, 3)) {
      const outcomes = await service.evaluate(model.modelId, day);
      decisions.push(
        outcomes.map((outcome) => `${outcome.subgroup}:${outcome.decision}:${outcome.verdict}`).join(',')
      );
    }
    assert.deepEqual(decisions, [
      'all:none:ok,sex:female:none:insufficient-data',
      'all:none:breach,sex:female:none:insufficient-data',
      'all:open:breach,sex:female:none:insufficient-data',
    ]);

    // The alert is open once, with an active Flag on the model's Group, authored by its Device.
    const states = mongo.db.collection<AlertStateDocument>(ALERT_COLLECTIONS.alerts);
    const open = await states.findOne({ ruleId: rule.ruleId, subgroup: 'all' });
    assert.ok(open, 'no alert state for subgroup all');
    assert.equal(open.status, 'open');
    assert.equal(open.openedWindow, DAYS[2]);
    assert.equal(await states.countDocuments({ ruleId: rule.ruleId, subgroup: 'sex:female' }), 0);
    const flagReference = open.flag ?? '';
    assert.ok(flagReference.startsWith('Flag/'), `no Flag recorded: ${flagReference}`);
    const flag = await readFlag(flagReference);
    assert.equal(flag.status, 'active');
    assert.ok(flag.subject.reference?.startsWith('Group/'));
    assert.ok(flag.author?.reference?.startsWith('Device/'));
    assert.match(flag.code.text ?? '', /AI governance committee/);

    // The Flag is checked against its profile, and its subject Group, which has no profile, against R4.
    const profile = encodeURIComponent(`${MONITORMED_BASE}/StructureDefinition/model-alert-flag`);
    assert.deepEqual(await validationErrors(`Flag/$validate?profile=${profile}`, flag), []);
    const group = await readResource(flag.subject.reference ?? '');
    assert.deepEqual(await validationErrors('Group/$validate', group), []);

    // Evaluating the same and the next breaching day opens nothing new.
    await service.evaluate(model.modelId, DAYS[2] ?? '');
    const stillOpen = await service.evaluate(model.modelId, DAYS[3] ?? '');
    assert.equal(stillOpen.find((entry) => entry.subgroup === 'all')?.decision, 'none');
    const flags = (await run.fhir.search({
      resourceType: 'Flag',
      searchParams: { identifier: `${FLAG_ID_SYSTEM}|${open._id.replaceAll('|', '\\|')}` },
      options: { headers: { 'Cache-Control': 'no-cache' } },
    })) as unknown as Bundle<Flag>;
    assert.equal(flags.entry?.length, 1);

    // Recovery resolves it.
    const resolved = await service.evaluate(model.modelId, DAYS[4] ?? '');
    assert.equal(resolved.find((entry) => entry.subgroup === 'all')?.decision, 'resolve');
    assert.equal((await states.findOne({ ruleId: rule.ruleId, subgroup: 'all' }))?.status, 'resolved');
    assert.equal((await readFlag(flagReference)).status, 'inactive');

    const history = await readAlertHistory(mongo.db, model.modelId);
    assert.deepEqual(
      history.map((event) => [event.kind, event.window, event.subgroup]),
      [
        ['opened', DAYS[2], 'all'],
        ['resolved', DAYS[4], 'all'],
      ]
    );
    assert.deepEqual(history[0]?.breachingWindows, [DAYS[1], DAYS[2]]);
  });

  void it('webhooks are signed, retried and recorded', async () => {
    assert.equal(webhooks.length, 2, 'one webhook per event');
    assert.equal(webhookRequests, 3, 'the 503 of the first attempt was retried');

    for (const webhook of webhooks) {
      const timestamp = String(webhook.headers[TIMESTAMP_HEADER.toLowerCase()]);
      assert.equal(
        webhook.headers[SIGNATURE_HEADER.toLowerCase()],
        signWebhookBody(SECRET, timestamp, webhook.body)
      );
    }
    const kinds = webhooks.map((webhook) => (JSON.parse(webhook.body) as { type: string }).type);
    assert.deepEqual(kinds, ['alert.opened', 'alert.resolved']);

    const deliveries = await mongo.db
      .collection<AlertDeliveryDocument>(ALERT_COLLECTIONS.deliveries)
      .find({ channel: 'webhook' })
      .sort({ _id: 1 })
      .toArray();
    assert.deepEqual(
      deliveries.map((delivery) => [delivery.status, delivery.attempts]),
      [
        ['delivered', 2],
        ['delivered', 1],
      ]
    );
  });

  void it('emails reach the SMTP server', () => {
    assert.equal(emails.length, 2);
    assert.match(emails[0] ?? '', /Subject: \[MonitorMed\] Alert opened/);
    assert.match(emails[0] ?? '', /Required response: Review the missed cases/);
    assert.match(emails[1] ?? '', /Subject: \[MonitorMed\] Alert resolved/);
  });
});
