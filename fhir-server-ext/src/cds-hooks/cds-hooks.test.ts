/**
 * The CDS Hooks service against real HAPI FHIR, FerretDB and Redis: discovery, cards for a flagged and a
 * clean patient with and without prefetch, request checks, and feedback feeding the override rate.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '@medplum/fhirtypes';
import { AIAST_SEARCH, connectMongo, readOverrideRates, waitFor } from '@monitormed/common';
import { startFhirServerExt, type FhirServerExt } from '../server.js';
import { AI_FLAGS_SERVICE_ID, PREFETCH_TEMPLATES, expandTemplate } from './service-definition.js';
import {
  createCdsFixture,
  searchHapi,
  signClientJwt,
  startTestCdsClient,
  startTestServer,
  testConfig,
  testSettings,
  validationErrors,
  type CdsFixture,
  type TestCdsClient,
} from './test-support.js';
import type { CdsCard, CdsServiceDefinition } from './types.js';

const runId = randomUUID().slice(0, 8);
const config = testConfig(runId);

let client: TestCdsClient | undefined;
let server: FhirServerExt | undefined;
let fixture: CdsFixture | undefined;

function serviceUrl(suffix = ''): string {
  if (server === undefined) {
    throw new Error('fhir-server-ext did not start; see the before hook error.');
  }
  return `http://127.0.0.1:${server.port}/cds-services${suffix}`;
}

function requireFixture(): CdsFixture {
  if (fixture === undefined) {
    throw new Error('The HAPI fixture was not created; see the before hook error.');
  }
  return fixture;
}

async function post(suffix: string, body: unknown, token?: string): Promise<Response> {
  const url = serviceUrl(suffix);
  const jwt = token ?? (client === undefined ? '' : await signClientJwt(client, { aud: url }));
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${jwt}` },
    body: JSON.stringify(body),
  });
}

function hookRequest(patientId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hook: 'patient-view',
    hookInstance: randomUUID(),
    context: { userId: 'Practitioner/test-clinician', patientId },
    ...extra,
  };
}

async function prefetchFor(patientId: string): Promise<Record<string, unknown>> {
  return {
    aiResults: await searchHapi(config, expandTemplate(PREFETCH_TEMPLATES.aiResults, patientId)),
    monitoringFlags: await searchHapi(config, expandTemplate(PREFETCH_TEMPLATES.monitoringFlags, patientId)),
  };
}

async function cardsOf(response: Response): Promise<CdsCard[]> {
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { cards: CdsCard[] }).cards;
}

function defined<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `${what} is missing`);
  return value;
}

function assertFlaggedCards(cards: CdsCard[], data: CdsFixture): void {
  assert.equal(cards.length, 2);
  const critical = defined(cards[0], 'first card');
  const warning = defined(cards[1], 'second card');
  assert.equal(critical.indicator, 'critical');
  assert.equal(warning.indicator, 'warning');

  const criticalContext = JSON.parse(critical.links?.[0]?.appContext ?? '{}') as Record<string, unknown>;
  assert.equal(criticalContext['observation'], `Observation/${data.driftingObservationId}`);
  assert.deepEqual(
    criticalContext['flags'],
    data.flagIds.slice(0, 2).map((id) => `Flag/${id}`)
  );
  assert.equal(criticalContext['modelId'], 'sepsis-risk');
  const warningContext = JSON.parse(warning.links?.[0]?.appContext ?? '{}') as Record<string, unknown>;
  assert.equal(warningContext['observation'], `Observation/${data.uncertainObservationId}`);

  for (const card of cards) {
    assert.ok(card.summary.length < 140, `summary has ${card.summary.length} characters`);
    assert.match(card.uuid ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(card.source.label, 'MonitorMed AI monitoring');
    assert.equal(card.source.topic?.code, 'ai-result-monitoring');
    const link = defined(card.links?.[0], 'smart link');
    assert.equal(link.type, 'smart');
    assert.equal(link.url, 'http://127.0.0.1:8082/launch');
    assert.equal(card.selectionBehavior, 'at-most-one');
    assert.match(card.suggestions?.[0]?.uuid ?? '', /^[0-9a-f-]{36}$/);
    assert.ok((card.overrideReasons?.length ?? 0) >= 2);
    assert.ok(card.overrideReasons?.every((reason) => (reason.display ?? '') !== ''));
    assert.match(card.detail ?? '', /Demo Sepsis Deterioration Risk, `sepsis-risk`, version 2\.1\.0/);
  }

  assert.match(critical.summary, /high uncertainty and model drift/);
  assert.match(critical.detail ?? '', /probability 0\.510 \(positive\), produced 2026-11-30T08:00:00Z/);
  assert.match(critical.detail ?? '', /\*\*Model confidence:\*\* 51\.0 %/);
  assert.match(critical.detail ?? '', /\*\*Uncertainty:\*\* 1\.000 bits/);
  assert.match(
    critical.detail ?? '',
    /\*\*Drift:\*\* detected in window 2026-11-30 \(KS statistic 0\.420, p = 0\.000400/
  );
  assert.match(warning.summary, /flagged for high uncertainty;/);
  assert.doesNotMatch(warning.summary, /drift/);
}

void describe('CDS Hooks service', () => {
  before(async () => {
    client = await startTestCdsClient(runId);
    server = await startTestServer(config, testSettings(config, client), runId);
    fixture = await createCdsFixture(config, runId);
  });

  after(async () => {
    const mongo = await connectMongo(config).catch(() => undefined);
    await mongo?.db.dropDatabase();
    await mongo?.client.close();
    await server?.close();
    await client?.close();
  });

  void it('discovery lists the patient-view service', async () => {
    const response = await fetch(serviceUrl());
    assert.equal(response.status, 200);
    const { services } = (await response.json()) as { services: CdsServiceDefinition[] };

    assert.equal(services.length, 1);
    const service = defined(services[0], 'service');
    assert.equal(service.id, AI_FLAGS_SERVICE_ID);
    assert.equal(service.hook, 'patient-view');
    assert.ok((service.title ?? '') !== '');
    assert.ok(service.description !== '');
    assert.ok((service.usageRequirements ?? '') !== '');
    const security = encodeURIComponent(AIAST_SEARCH);
    assert.match(service.prefetch?.['aiResults'] ?? '', /^Observation\?patient=\{\{context\.patientId\}\}&/);
    assert.ok(service.prefetch?.['aiResults']?.includes(`_security=${security}`));
    assert.match(service.prefetch?.['monitoringFlags'] ?? '', /^Flag\?patient=\{\{context\.patientId\}\}&/);
    assert.ok(service.prefetch?.['monitoringFlags']?.includes(`_security=${security}`));
  });

  void it('flagged patient gets cards without prefetch', async () => {
    const data = requireFixture();
    const cards = await cardsOf(await post(`/${AI_FLAGS_SERVICE_ID}`, hookRequest(data.flaggedPatientId)));
    assertFlaggedCards(cards, data);

    // An allowed fhirServer is read with the request's token (HAPI here ignores it).
    const withToken = hookRequest(data.flaggedPatientId, {
      fhirServer: config.fhirBaseUrl,
      fhirAuthorization: {
        access_token: 'synthetic-token',
        token_type: 'Bearer',
        expires_in: 300,
        scope: 'patient/Observation.read patient/Flag.read patient/Device.read',
        subject: 'monitormed-cds',
      },
    });
    assertFlaggedCards(await cardsOf(await post(`/${AI_FLAGS_SERVICE_ID}`, withToken)), data);
  });

  void it('patient-view call is audited', async () => {
    const data = requireFixture();
    const body = hookRequest(data.flaggedPatientId);
    const hookInstance = String(body['hookInstance']);
    assertFlaggedCards(await cardsOf(await post(`/${AI_FLAGS_SERVICE_ID}`, body)), data);

    // The audit worker writes the AuditEvent after the response, so the test polls HAPI for it.
    const event = await waitFor('the AuditEvent of the patient-view call', async () => {
      const bundle = await searchHapi(
        config,
        `AuditEvent?patient=Patient/${data.flaggedPatientId}&_count=50`
      );
      return bundle.entry
        ?.map((entry) => entry.resource as AuditEvent)
        .find((candidate) =>
          candidate.entity?.some((entity) => entity.name === `hookInstance ${hookInstance}`)
        );
    });
    assert.equal(event.type.code, '110112');
    assert.equal(event.subtype?.[0]?.code, 'patient-view');
    assert.equal(event.agent[0]?.who?.identifier?.value, client?.iss);
    const references = (event.entity ?? []).map((entity) => entity.what?.reference ?? '');
    assert.ok(references.includes(`Patient/${data.flaggedPatientId}`));
    assert.ok(references.some((reference) => reference.startsWith('Flag/')));
    assert.ok(references.some((reference) => reference.startsWith('Observation/')));

    assert.deepEqual(await validationErrors(config, event), []);
  });

  void it('flagged patient gets cards from prefetch', async () => {
    const data = requireFixture();
    // A fhirServer outside CDS_FHIR_SERVERS is never called, so the cards can only come from the prefetch.
    const body = hookRequest(data.flaggedPatientId, {
      fhirServer: 'http://127.0.0.1:9/fhir',
      prefetch: await prefetchFor(data.flaggedPatientId),
    });
    const cards = await cardsOf(await post(`/${AI_FLAGS_SERVICE_ID}`, body));
    assertFlaggedCards(cards, data);
  });

  void it('flagged results outside prefetch are read', async () => {
    const data = requireFixture();
    // The Flags are prefetched but their results are not, so the service reads them by id.
    const prefetch = await prefetchFor(data.flaggedPatientId);
    const body = hookRequest(data.flaggedPatientId, { prefetch: { ...prefetch, aiResults: null } });
    const cards = await cardsOf(await post(`/${AI_FLAGS_SERVICE_ID}`, body));
    assertFlaggedCards(cards, data);
  });

  void it('clean patient gets no cards', async () => {
    const data = requireFixture();
    const fetched = await cardsOf(await post(`/${AI_FLAGS_SERVICE_ID}`, hookRequest(data.cleanPatientId)));
    assert.deepEqual(fetched, []);

    const prefetched = hookRequest(data.cleanPatientId, { prefetch: await prefetchFor(data.cleanPatientId) });
    assert.deepEqual(await cardsOf(await post(`/${AI_FLAGS_SERVICE_ID}`, prefetched)), []);

    const nullPrefetch = hookRequest(data.cleanPatientId, {
      prefetch: { aiResults: null, monitoringFlags: null },
    });
    assert.deepEqual(await cardsOf(await post(`/${AI_FLAGS_SERVICE_ID}`, nullPrefetch)), []);
  });

  void it('missing prefetch without server gets 412', async () => {
    const data = requireFixture();
    const body = hookRequest(data.flaggedPatientId, {
      fhirServer: 'http://127.0.0.1:9/fhir',
      prefetch: { aiResults: null },
    });
    const response = await post(`/${AI_FLAGS_SERVICE_ID}`, body);
    assert.equal(response.status, 412);
    assert.match(await response.text(), /Prefetch \\"monitoringFlags\\" is missing.*CDS_FHIR_SERVERS/);
  });

  void it('invalid requests get 400 naming the field', async () => {
    const data = requireFixture();
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['wrong hook', { ...hookRequest(data.flaggedPatientId), hook: 'order-sign' }, /patient-view hook/],
      ['no hookInstance', { ...hookRequest(data.flaggedPatientId), hookInstance: undefined }, /hookInstance/],
      [
        'no context',
        { ...hookRequest(data.flaggedPatientId), context: undefined },
        /context.{0,2} must be an object/,
      ],
      [
        'bad patientId',
        { ...hookRequest(data.flaggedPatientId), context: { userId: 'Practitioner/1', patientId: 'a/b' } },
        /context\.patientId/,
      ],
      [
        'bad userId',
        { ...hookRequest(data.flaggedPatientId), context: { userId: 'Device/1', patientId: 'p1' } },
        /context\.userId/,
      ],
      [
        'token without fhirServer',
        hookRequest(data.flaggedPatientId, {
          fhirAuthorization: {
            access_token: 't',
            token_type: 'Bearer',
            expires_in: 300,
            scope: 's',
            subject: 'c',
          },
        }),
        /fhirServer.*required/,
      ],
      [
        'prefetch not a Bundle',
        hookRequest(data.flaggedPatientId, { prefetch: { monitoringFlags: { resourceType: 'Flag' } } }),
        /prefetch\.monitoringFlags/,
      ],
    ];

    for (const [name, body, message] of cases) {
      const response = await post(`/${AI_FLAGS_SERVICE_ID}`, body);
      assert.equal(response.status, 400, name);
      assert.match(await response.text(), message, name);
    }
  });

  void it('unknown service gets 404', async () => {
    const response = await post('/no-such-service', hookRequest('p1'));
    assert.equal(response.status, 404);
  });

  void it('feedback counts each card outcome once', async () => {
    const data = requireFixture();
    const cards = await cardsOf(await post(`/${AI_FLAGS_SERVICE_ID}`, hookRequest(data.flaggedPatientId)));
    const first = defined(cards[0], 'first card');
    const second = defined(cards[1], 'second card');
    const accepted = {
      feedback: [
        {
          card: first.uuid,
          outcome: 'accepted',
          acceptedSuggestions: [{ id: first.suggestions?.[0]?.uuid }],
          outcomeTimestamp: '2026-12-01T10:00:00Z',
        },
      ],
    };
    const overridden = {
      feedback: [
        {
          card: second.uuid,
          outcome: 'overridden',
          overrideReason: {
            reason: {
              system: 'https://monitormed.dev/fhir/CodeSystem/cds-override-reason',
              code: 'already-aware',
            },
            userComment: 'Synthetic test comment',
          },
          outcomeTimestamp: '2026-12-01T11:00:00Z',
        },
      ],
    };

    const feedbackPath = `/${AI_FLAGS_SERVICE_ID}/feedback`;
    const results = [];
    for (const body of [accepted, accepted, overridden, overridden]) {
      const response = await post(feedbackPath, body);
      assert.equal(response.status, 200, await response.clone().text());
      results.push(await response.json());
    }
    assert.deepEqual(results, [
      { counted: 1, duplicates: 0, unattributed: 0 },
      { counted: 0, duplicates: 1, unattributed: 0 },
      { counted: 1, duplicates: 0, unattributed: 0 },
      { counted: 0, duplicates: 1, unattributed: 0 },
    ]);

    const mongo = await connectMongo(config);
    try {
      const rates = await readOverrideRates(mongo.db, {
        modelId: 'sepsis-risk',
        fromDay: '2026-12-01',
        toDay: '2026-12-01',
      });
      assert.deepEqual(rates, [
        { modelId: 'sepsis-risk', day: '2026-12-01', accepted: 1, overridden: 1, overrideRate: 0.5 },
      ]);
      assert.deepEqual(
        await readOverrideRates(mongo.db, { modelId: 'sepsis-risk', toDay: '2026-11-30' }),
        []
      );
    } finally {
      await mongo.client.close();
    }
  });

  void it('concurrent duplicate feedback counts once', async () => {
    const data = requireFixture();
    const cards = await cardsOf(await post(`/${AI_FLAGS_SERVICE_ID}`, hookRequest(data.flaggedPatientId)));
    const card = defined(cards[0], 'first card');
    const body = {
      feedback: [{ card: card.uuid, outcome: 'overridden', outcomeTimestamp: '2026-12-02T09:00:00Z' }],
    };

    const responses = await Promise.all(
      [1, 2, 3, 4].map(() => post(`/${AI_FLAGS_SERVICE_ID}/feedback`, body))
    );
    const results = (await Promise.all(responses.map((response) => response.json()))) as {
      counted: number;
    }[];
    assert.deepEqual(
      responses.map((response) => response.status),
      [200, 200, 200, 200]
    );
    assert.equal(
      results.reduce((sum, result) => sum + result.counted, 0),
      1
    );

    const mongo = await connectMongo(config);
    try {
      const rates = await readOverrideRates(mongo.db, { fromDay: '2026-12-02', toDay: '2026-12-02' });
      assert.deepEqual(rates, [
        { modelId: 'sepsis-risk', day: '2026-12-02', accepted: 0, overridden: 1, overrideRate: 1 },
      ]);
    } finally {
      await mongo.client.close();
    }
  });

  void it('start fails clearly when MongoDB is down', async () => {
    // Port 9 (discard) is closed on loopback, so the connection is refused.
    const offline = { ...config, mongoUrl: 'mongodb://127.0.0.1:9' };
    await assert.rejects(
      startFhirServerExt({
        config: offline,
        port: 0,
        skipSubscription: true,
        queuePrefix: `mmtest-cds-${runId}`,
      }),
      /MongoDB at mongodb:\/\/127\.0\.0\.1:9 is not reachable/
    );
  });

  void it('invalid feedback is rejected', async () => {
    const feedbackPath = `/${AI_FLAGS_SERVICE_ID}/feedback`;
    const unknownCard = await post(feedbackPath, {
      feedback: [{ card: randomUUID(), outcome: 'overridden', outcomeTimestamp: '2026-12-01T10:00:00Z' }],
    });
    assert.equal(unknownCard.status, 404);
    assert.match(await unknownCard.text(), /Unknown card uuid/);

    const noSuggestions = await post(feedbackPath, {
      feedback: [{ card: randomUUID(), outcome: 'accepted', outcomeTimestamp: '2026-12-01T10:00:00Z' }],
    });
    assert.equal(noSuggestions.status, 400);
    assert.match(await noSuggestions.text(), /acceptedSuggestions/);

    const localTime = await post(feedbackPath, {
      feedback: [
        { card: randomUUID(), outcome: 'overridden', outcomeTimestamp: '2026-12-01T10:00:00+02:00' },
      ],
    });
    assert.equal(localTime.status, 400);
    assert.match(await localTime.text(), /outcomeTimestamp/);
  });
});
