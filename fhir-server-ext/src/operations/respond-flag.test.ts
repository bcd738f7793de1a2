/**
 * `Flag/{id}/$respond` through the SMART-secured endpoint, against the real HAPI FHIR, MongoDB (FerretDB)
 * and Redis peers: acknowledge and override recorded on the Flag and as a Provenance that HAPI
 * validates, the override counted once in the model's override rate, and the 400/403/404/409 cases.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type {
  Bundle,
  CapabilityStatement,
  Flag,
  OperationOutcome,
  Parameters,
  ParametersParameter,
  Provenance,
} from '@medplum/fhirtypes';
import {
  connectMongo,
  FLAG_CODES,
  FLAG_RESPONSE_EXTENSION,
  FLAG_RESPONSE_REASON_SYSTEM,
  readOverrideRates,
} from '@monitormed/common';
import { flagIdentifierQuery } from '@monitormed/analyzers';
import { issueText, startProxyTestKit, type ProxyTestKit } from '../proxy/test-kit.js';
import { FlagConflictError } from './flag-conflict-error.js';
import { updateFlag } from './respond-flag.js';
import { createOperationsFixture, type OperationsFixture } from './test-fixture.js';

// The server reads MONGO_DATABASE when it starts, so the run's private database is set first.
const database = `monitormed_test_${randomUUID().slice(0, 8)}`;
process.env['MONGO_DATABASE'] = database;

let kit: ProxyTestKit | undefined;
let fixture: OperationsFixture | undefined;
const flagIds = { uncertainty: '', drift: '' };

function started(): { kit: ProxyTestKit; fixture: OperationsFixture } {
  if (kit === undefined || fixture === undefined) {
    throw new Error('The test setup did not start; see the before hook error.');
  }
  return { kit, fixture };
}

function part(parameters: Parameters, name: string): ParametersParameter | undefined {
  return parameters.parameter?.find((parameter) => parameter.name === name);
}

function respondBody(response: string, reason?: string, comment?: string): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'response', valueCode: response },
      ...(reason === undefined
        ? []
        : [{ name: 'reason', valueCoding: { system: FLAG_RESPONSE_REASON_SYSTEM, code: reason } }]),
      ...(comment === undefined ? [] : [{ name: 'comment', valueString: comment }]),
    ],
  };
}

async function clinicianToken(patient: string): Promise<string> {
  return started().kit.sign({ scope: 'openid fhirUser patient/Flag.rus patient/Observation.rs', patient });
}

function respondPath(flagId: string): string {
  return `Flag/${flagId}/$respond`;
}

/**
 * Validates the Provenance against the AI-Provenance profile it claims. The profile slices agents by
 * `who.resolve()`, and HAPI's $validate resolves references only inside the validated Bundle, so the
 * Provenance goes in a collection Bundle with the resources it points at.
 */
async function provenanceErrors(provenance: Provenance): Promise<string[]> {
  const setup = started();
  const references = [
    ...provenance.target.map((target) => target.reference ?? ''),
    ...provenance.agent.map((agent) => agent.who.reference ?? ''),
    `Patient/${setup.kit.patientA}`,
  ];
  const resources = await Promise.all(references.map((reference) => setup.kit.callHapi(reference)));
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [...resources, provenance].map((resource) => ({
      fullUrl: `${setup.kit.config.fhirBaseUrl}/${resource.resourceType}/${resource.id ?? ''}`,
      resource,
    })),
  };
  const outcome = await setup.kit.callHapi<OperationOutcome>('Bundle/$validate', 'POST', bundle);
  return outcome.issue
    .filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
    .map((issue) => `${issue.expression?.join(', ') ?? ''}: ${issue.diagnostics ?? issue.code}`);
}

void describe('Flag $respond', () => {
  before(async () => {
    kit = await startProxyTestKit('respond');
    const setup = kit;
    fixture = await createOperationsFixture(
      kit.config,
      (path, method, body) => setup.callHapi(path, method, body),
      kit.runId,
      kit.patientA
    );

    // HAPI checks references on write, so the clinician named by the token's fhirUser must exist.
    await kit.callHapi(kit.fhirUser, 'PUT', {
      resourceType: 'Practitioner',
      id: kit.fhirUser.replace('Practitioner/', ''),
      name: [{ family: 'Tester', given: ['Synthetic'] }],
    });
    for (const [key, code] of [
      ['uncertainty', FLAG_CODES.highUncertainty.code],
      ['drift', FLAG_CODES.modelDrift.code],
    ] as const) {
      const bundle = await kit.callHapi<Bundle<Flag>>(
        `Flag?${flagIdentifierQuery(fixture.flaggedObservationId, code)}`
      );
      flagIds[key] = bundle.entry?.[0]?.resource?.id ?? '';
      assert.notEqual(flagIds[key], '', `the fixture has no ${code} Flag`);
    }
  });

  after(async () => {
    await kit?.close();
    const mongo = await connectMongo(
      { mongoUrl: kit?.config.mongoUrl ?? 'mongodb://127.0.0.1:27017', mongoDatabase: database },
      5_000
    );
    await mongo.db.dropDatabase();
    await mongo.client.close();
  });

  void it('acknowledge keeps the Flag active', async () => {
    const setup = started();
    const result = await setup.kit.callProxy<Parameters>(respondPath(flagIds.uncertainty), {
      method: 'POST',
      body: respondBody('acknowledge', 'consistent-with-assessment'),
      token: await clinicianToken(setup.kit.patientA),
    });

    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(part(result.body, 'status')?.valueCode, 'active');
    assert.equal(part(result.body, 'author')?.valueReference?.reference, setup.kit.fhirUser);
    const flag = await setup.kit.callHapi<Flag>(`Flag/${flagIds.uncertainty}`);
    assert.equal(flag.status, 'active');
    const extension = flag.extension?.find((candidate) => candidate.url === FLAG_RESPONSE_EXTENSION);
    assert.equal(extension?.extension?.find((sub) => sub.url === 'response')?.valueCode, 'acknowledge');
  });

  void it('override records and validates', async () => {
    const setup = started();
    const result = await setup.kit.callProxy<Parameters>(respondPath(flagIds.drift), {
      method: 'POST',
      body: respondBody('override', 'outside-intended-use', 'Synthetic test comment'),
      token: await clinicianToken(setup.kit.patientA),
    });

    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(part(result.body, 'status')?.valueCode, 'inactive');
    assert.equal(part(result.body, 'counted')?.valueBoolean, true);
    const flag = await setup.kit.callHapi<Flag>(`Flag/${flagIds.drift}`);
    assert.equal(flag.status, 'inactive');
    assert.equal(typeof flag.period?.end, 'string');

    const provenanceRef = part(result.body, 'provenance')?.valueReference?.reference ?? '';
    const provenance = await setup.kit.callHapi<Provenance>(provenanceRef);
    assert.deepEqual(
      provenance.target.map((target) => target.reference).sort(),
      [`Flag/${flagIds.drift}`, `Observation/${setup.fixture.flaggedObservationId}`].sort()
    );
    const human = provenance.agent.find((agent) => agent.who.reference === setup.kit.fhirUser);
    assert.equal(human?.type?.coding?.[0]?.code, 'verifier');
    const ai = provenance.agent.find((agent) => agent.who.reference === `Device/${setup.fixture.deviceId}`);
    assert.equal(ai?.role?.[0]?.coding?.[0]?.code, 'Artificial-Intelligence');
    assert.ok(
      provenance.reason?.some((reason) => reason.coding?.[0]?.code === 'outside-intended-use'),
      'the Provenance has no override reason'
    );
    assert.deepEqual(await provenanceErrors(provenance), []);
  });

  void it('override posted twice counts once', async () => {
    const setup = started();
    const repeat = await setup.kit.callProxy<Parameters>(respondPath(flagIds.drift), {
      method: 'POST',
      body: respondBody('override', 'outside-intended-use'),
      token: await clinicianToken(setup.kit.patientA),
    });

    assert.equal(repeat.status, 200, JSON.stringify(repeat.body));
    assert.equal(part(repeat.body, 'counted')?.valueBoolean, false);
    const mongo = await connectMongo({ mongoUrl: setup.kit.config.mongoUrl, mongoDatabase: database }, 5_000);
    try {
      const rates = await readOverrideRates(mongo.db, { modelId: setup.fixture.modelId });
      const overridden = rates.reduce((sum, rate) => sum + rate.overridden, 0);
      const accepted = rates.reduce((sum, rate) => sum + rate.accepted, 0);
      // The fixture seeds its own counts; this file's tests add one acknowledgement and one override.
      assert.equal(overridden, setup.fixture.feedback.overridden + 1);
      assert.equal(accepted, setup.fixture.feedback.accepted + 1);
    } finally {
      await mongo.client.close();
    }
    const provenances = await setup.kit.callHapi<Bundle<Provenance>>(
      `Provenance?target=Flag/${flagIds.drift}&_count=10`
    );
    assert.equal(provenances.entry?.length, 1);
  });

  void it('other response conflicts', async () => {
    const setup = started();
    const result = await setup.kit.callProxy<OperationOutcome>(respondPath(flagIds.drift), {
      method: 'POST',
      body: respondBody('acknowledge'),
      token: await clinicianToken(setup.kit.patientA),
    });

    assert.equal(result.status, 409);
    assert.match(issueText(result.body), /already has the response override/);
  });

  void it('wrong patient is forbidden', async () => {
    const setup = started();
    const result = await setup.kit.callProxy<OperationOutcome>(respondPath(flagIds.uncertainty), {
      method: 'POST',
      body: respondBody('override', 'other'),
      token: await clinicianToken(setup.kit.patientB),
    });

    assert.equal(result.status, 403);
    assert.match(issueText(result.body), /outside the compartment/);
  });

  void it('bad input and missing Flag', async () => {
    const setup = started();
    const token = await clinicianToken(setup.kit.patientA);

    const noReason = await setup.kit.callProxy<OperationOutcome>(respondPath(flagIds.uncertainty), {
      method: 'POST',
      body: respondBody('override'),
      token,
    });
    assert.equal(noReason.status, 400);
    assert.match(issueText(noReason.body), /override needs a reason/);

    const badCode = await setup.kit.callProxy<OperationOutcome>(respondPath(flagIds.uncertainty), {
      method: 'POST',
      body: respondBody('dismiss'),
      token,
    });
    assert.equal(badCode.status, 400);
    assert.match(issueText(badCode.body), /acknowledge, override/);

    const missing = await setup.kit.callProxy<OperationOutcome>(
      respondPath(`mm-missing-${setup.kit.runId}`),
      { method: 'POST', body: respondBody('acknowledge'), token }
    );
    assert.equal(missing.status, 404);

    const noUser = await setup.kit.sign({
      scope: 'patient/Flag.rus',
      patient: setup.kit.patientA,
      fhirUser: undefined,
    });
    const anonymous = await setup.kit.callProxy<OperationOutcome>(respondPath(flagIds.uncertainty), {
      method: 'POST',
      body: respondBody('acknowledge'),
      token: noUser,
    });
    assert.equal(anonymous.status, 403);
    assert.match(issueText(anonymous.body), /no fhirUser claim/);
  });

  void it('CapabilityStatement lists respond', async () => {
    const result = await started().kit.callProxy<CapabilityStatement>('metadata');

    assert.equal(result.status, 200);
    const flag = result.body.rest?.[0]?.resource?.find((resource) => resource.type === 'Flag');
    assert.ok(
      flag?.operation?.some((operation) => operation.name === 'respond'),
      'Flag lacks $respond; build the profiles package (npm run build -w profiles) first'
    );
  });

  void it('stale Flag version conflicts', async () => {
    const setup = started();
    const created = await setup.kit.callHapi<Flag>('Flag', 'POST', {
      resourceType: 'Flag',
      status: 'active',
      code: { coding: [FLAG_CODES.highUncertainty] },
      subject: { reference: `Patient/${setup.kit.patientA}` },
    });
    // Another writer changes the Flag after this copy was read.
    await setup.kit.callHapi<Flag>(`Flag/${created.id ?? ''}`, 'PUT', { ...created, status: 'inactive' });

    const target = { fhirBaseUrl: setup.kit.config.fhirBaseUrl, timeoutMs: 10_000 };
    const recorded = {
      response: 'acknowledge' as const,
      reason: undefined,
      comment: undefined,
      author: setup.kit.fhirUser,
      time: new Date().toISOString(),
    };
    await assert.rejects(updateFlag(target, created, recorded), FlagConflictError);
    const stored = await setup.kit.callHapi<Flag>(`Flag/${created.id ?? ''}`);
    assert.equal(stored.status, 'inactive');
    assert.equal(stored.extension, undefined);
  });
});
