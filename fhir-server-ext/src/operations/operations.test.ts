/**
 * MonitorMed's FHIR operations through the SMART-secured endpoint, against the real HAPI FHIR, MongoDB
 * (FerretDB) and Redis peers: Parameters in (GET and POST) and out, scope checks, bad input, and the
 * compliance report's PDF read back with pdf-parse.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type {
  Bundle,
  CapabilityStatement,
  DiagnosticReport,
  Observation,
  OperationOutcome,
  Parameters,
  ParametersParameter,
} from '@medplum/fhirtypes';
import { connectMongo, DRIFT_EXTENSION, UNCERTAINTY_EXTENSION } from '@monitormed/common';
import { PDFParse } from 'pdf-parse';
import { issueText, startProxyTestKit, type ProxyTestKit } from '../proxy/test-kit.js';
import { COMPLIANCE_REPORT_PROFILE } from './compliance-report.js';
import { createOperationsFixture, type OperationsFixture } from './test-fixture.js';

// The server reads MONGO_DATABASE when it starts, so the run's private database is set first.
const database = `monitormed_test_${randomUUID().slice(0, 8)}`;
process.env['MONGO_DATABASE'] = database;

let kit: ProxyTestKit | undefined;
let fixture: OperationsFixture | undefined;

function started(): { kit: ProxyTestKit; fixture: OperationsFixture } {
  if (kit === undefined || fixture === undefined) {
    throw new Error('The test setup did not start; see the before hook error.');
  }
  return { kit, fixture };
}

function find(parameters: readonly ParametersParameter[] | undefined, name: string): ParametersParameter[] {
  return (parameters ?? []).filter((parameter) => parameter.name === name);
}

function one(parameters: readonly ParametersParameter[] | undefined, name: string): ParametersParameter {
  const found = find(parameters, name);
  assert.equal(found.length, 1, `expected one '${name}' parameter, found ${found.length}`);
  return found[0] as ParametersParameter;
}

/**
 * Validates Parameters with HAPI's `Parameters/$validate`. A Parameters body of that call is read as the
 * operation's own inputs, so the resource goes inside the `resource` input.
 */
async function parametersErrors(parameters: Parameters): Promise<string[]> {
  const outcome = await started().kit.callHapi<OperationOutcome>('Parameters/$validate', 'POST', {
    resourceType: 'Parameters',
    parameter: [{ name: 'resource', resource: parameters }],
  });
  return outcome.issue
    .filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
    .map((issue) => issue.diagnostics ?? issue.code);
}

/** Reads a complex extension's sub-extension value from the Observation as HAPI stores it now. */
async function storedExtensionValue(
  observationId: string,
  url: string,
  part: string
): Promise<number | undefined> {
  const observation = await started().kit.callHapi<Observation>(`Observation/${observationId}`);
  const extension = observation.extension?.find((candidate) => candidate.url === url);
  return extension?.extension?.find((candidate) => candidate.url === part)?.valueDecimal;
}

async function systemToken(
  scope = 'system/Device.rs system/Observation.rs system/Flag.rs system/DiagnosticReport.cruds'
): Promise<string> {
  return started().kit.sign({ scope });
}

void describe('FHIR operations', () => {
  before(async () => {
    kit = await startProxyTestKit('ops');
    const setup = kit;
    fixture = await createOperationsFixture(
      kit.config,
      (path, method, body) => setup.callHapi(path, method, body),
      kit.runId,
      kit.patientA
    );
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

  void it('monitoring-summary reports critical drift', async () => {
    const setup = started();
    const result = await setup.kit.callProxy<Parameters>(
      `Device/${setup.fixture.deviceId}/$monitoring-summary?from=2026-01-01&to=2026-01-06`,
      { token: await systemToken() }
    );

    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(one(result.body.parameter, 'status').valueCode, 'critical');
    assert.match(
      one(result.body.parameter, 'rule').valueString ?? '',
      /output-drift-ks in window 2026-01-05/
    );
    assert.equal(one(result.body.parameter, 'volume').valueInteger, 200);
    assert.equal(one(result.body.parameter, 'modelVersion').valueString, '2.1.0');
    const windows = find(result.body.parameter, 'window');
    assert.equal(windows.length, 5);
    const last = windows[4]?.part ?? [];
    const drift = find(last, 'metric').find(
      (metric) => one(metric.part, 'name').valueString === 'output-drift-ks'
    );
    assert.ok(drift !== undefined, 'window 2026-01-05 has no output-drift-ks metric');
    assert.equal(one(drift.part, 'value').valueDecimal, 0.0004);
    assert.equal(one(drift.part, 'threshold').valueDecimal, 0.05);
    assert.equal(one(drift.part, 'status').valueCode, 'critical');
    const performance = find(windows[3]?.part, 'metric');
    const sensitivity = performance.find(
      (metric) => one(metric.part, 'name').valueString === 'performance-sensitivity'
    );
    assert.ok(sensitivity !== undefined, 'window 2026-01-04 has no performance-sensitivity metric');
    assert.equal(one(sensitivity.part, 'category').valueCode, 'performance');
    assert.equal(one(sensitivity.part, 'lower').valueDecimal, 0.61);
    assert.equal(one(sensitivity.part, 'upper').valueDecimal, 0.91);
    assert.equal(one(sensitivity.part, 'estimated').valueBoolean, false);
    const auroc = performance.find((metric) => one(metric.part, 'name').valueString === 'cbpe-auroc');
    assert.ok(auroc !== undefined, 'window 2026-01-04 has no cbpe-auroc metric');
    assert.equal(one(auroc.part, 'estimated').valueBoolean, true);

    // Output quantiles from the drift window's output:score sketch, exact because it keeps its values.
    const quantiles = find(last, 'outputQuantile').map((part) => [
      one(part.part, 'probability').valueDecimal,
      one(part.part, 'value').valueDecimal,
    ]);
    const sorted = [...setup.fixture.driftWindowScores].sort((a, b) => a - b);
    assert.deepEqual(
      quantiles,
      [0.1, 0.25, 0.5, 0.75, 0.9].map((q) => [q, sorted[Math.ceil(q * sorted.length) - 1]])
    );
    assert.equal(
      find(windows[0]?.part, 'outputQuantile').length,
      0,
      'a window without a sketch has quantiles'
    );

    const alert = one(result.body.parameter, 'alert').part;
    assert.equal(one(alert, 'kind').valueCode, 'opened');
    assert.equal(one(alert, 'window').valueString, '2026-01-04');
    assert.equal(one(alert, 'metric').valueString, 'performance-sensitivity');
    assert.equal(one(alert, 'threshold').valueDecimal, 0.85);
    assert.equal(one(alert, 'responseOwner').valueString, 'AI governance committee');
    assert.equal(one(alert, 'responseAction').valueString, setup.fixture.alertAction);
    const feedback = one(result.body.parameter, 'feedback').part;
    assert.equal(one(feedback, 'day').valueString, setup.fixture.driftWindow);
    assert.equal(one(feedback, 'accepted').valueInteger, setup.fixture.feedback.accepted);
    assert.equal(one(feedback, 'overridden').valueInteger, setup.fixture.feedback.overridden);
    assert.equal(one(feedback, 'overrideRate').valueDecimal, 0.25);
    assert.deepEqual(await parametersErrors(result.body), []);
  });

  void it('monitoring-summary accepts a POST body', async () => {
    const setup = started();
    const body: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'metric', valueString: 'uncertainty-entropy-mean' },
        { name: 'from', valueDate: '2026-01-02' },
        { name: 'to', valueDate: '2026-01-04' },
      ],
    };
    const result = await setup.kit.callProxy<Parameters>(
      `Device/${setup.fixture.deviceId}/$monitoring-summary`,
      {
        token: await systemToken(),
        method: 'POST',
        body,
      }
    );

    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(one(result.body.parameter, 'status').valueCode, 'ok');
    const windows = find(result.body.parameter, 'window');
    assert.deepEqual(
      windows.map((window) => one(window.part, 'window').valueString),
      ['2026-01-02', '2026-01-03']
    );
    const metric = one(windows[0]?.part, 'metric');
    assert.equal(one(metric.part, 'name').valueString, 'uncertainty-entropy-mean');
    assert.equal(one(metric.part, 'category').valueCode, 'uncertainty');
    // The period ends before the alert's window and the feedback's day.
    assert.equal(find(result.body.parameter, 'alert').length, 0, 'the alert of 2026-01-04 is outside');
    assert.equal(find(result.body.parameter, 'feedback').length, 0, 'feedback of 2026-01-05 is outside');
    assert.deepEqual(await parametersErrors(result.body), []);
  });

  void it('invalid input gets 400 naming it', async () => {
    const setup = started();
    const token = await systemToken();
    const cases: [string, string][] = [
      [`Device/${setup.fixture.deviceId}/$monitoring-summary?granularity=year`, 'granularity'],
      [`Device/${setup.fixture.deviceId}/$monitoring-summary?from=yesterday`, 'from'],
      [`Device/${setup.fixture.deviceId}/$monitoring-summary?from=2026-02-01&to=2026-01-01`, 'to'],
      [`Device/${setup.fixture.deviceId}/$drift?colour=red`, 'colour'],
      [`Device/${setup.fixture.deviceId}/$drift?reference=yesterday`, 'reference'],
      [`Device/${setup.fixture.deviceId}/$compliance-report?end=2026-01-06`, 'start'],
    ];
    for (const [path, parameter] of cases) {
      const result = await setup.kit.callProxy<OperationOutcome>(path, { token });
      assert.equal(result.status, 400, `${path}: ${JSON.stringify(result.body)}`);
      assert.equal(result.body.resourceType, 'OperationOutcome');
      assert.deepEqual(result.body.issue[0]?.expression, [parameter], path);
      assert.match(issueText(result.body), new RegExp(parameter), path);
    }
  });

  void it('unknown Device gets 404', async () => {
    const setup = started();
    const result = await setup.kit.callProxy<OperationOutcome>(
      `Device/mm-missing-${setup.kit.runId}/$drift`,
      {
        token: await systemToken(),
      }
    );

    assert.equal(result.status, 404);
    assert.equal(result.body.resourceType, 'OperationOutcome');
  });

  void it('drift returns the stored tests', async () => {
    const setup = started();
    const result = await setup.kit.callProxy<Parameters>(
      `Device/${setup.fixture.deviceId}/$drift?window=${setup.fixture.driftWindow}&feature=age&feature=output:score`,
      { token: await systemToken() }
    );

    assert.equal(result.status, 200, JSON.stringify(result.body));
    const window = one(result.body.parameter, 'window');
    const dataset = one(window.part, 'dataset');
    assert.equal(one(dataset.part, 'driftShare').valueDecimal, 1);
    assert.equal(one(dataset.part, 'detected').valueBoolean, true);
    const features = find(window.part, 'feature');
    const age = features.find((feature) => one(feature.part, 'name').valueString === 'age');
    assert.ok(age !== undefined, 'no age feature');
    assert.equal(one(age.part, 'test').valueCode, 'ks');
    assert.equal(one(age.part, 'pValue').valueDecimal, setup.fixture.agePValue);
    assert.equal(one(age.part, 'statistic').valueDecimal, 0.41);
    assert.equal(one(age.part, 'threshold').valueDecimal, 0.05);
    assert.equal(one(age.part, 'verdict').valueCode, 'drift');
    assert.equal(one(age.part, 'missingRateCurrent').valueDecimal, 0.025);
    assert.match(one(age.part, 'reference').valueString ?? '', /windows 2026-01-01 to 2026-01-02/);
    const output = features.find((feature) => one(feature.part, 'metric').valueString === 'output-drift-ks');
    assert.ok(output !== undefined, 'no output-drift-ks feature');
    assert.equal(one(output.part, 'pValue').valueDecimal, 0.0004);
    assert.deepEqual(await parametersErrors(result.body), []);
  });

  void it('explain-flag gives the numbers', async () => {
    const setup = started();
    const token = await setup.kit.sign({
      scope: 'patient/Observation.rs patient/Flag.rs',
      patient: setup.kit.patientA,
    });
    const result = await setup.kit.callProxy<Parameters>(
      `Observation/${setup.fixture.flaggedObservationId}/$explain-flag`,
      { token }
    );

    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(one(result.body.parameter, 'flagged').valueBoolean, true);
    const model = one(result.body.parameter, 'model');
    assert.equal(one(model.part, 'modelId').valueString, setup.fixture.modelId);
    assert.equal(one(model.part, 'modelVersion').valueString, '2.1.0');
    const flags = find(result.body.parameter, 'flag');
    assert.equal(flags.length, 2);
    const byCode = new Map(flags.map((flag) => [one(flag.part, 'code').valueCoding?.code, flag.part]));
    const uncertainty = byCode.get('high-uncertainty');
    assert.deepEqual(
      find(uncertainty, 'method').map((part) => part.valueCode),
      ['entropy', 'margin']
    );
    // The flagged result's score 0.49 has margin 0.02, below the default width 0.1, and entropy 0.9997
    // bits, above the default threshold 0.97, so both rules fired.
    assert.deepEqual(
      find(uncertainty, 'rule').map((part) => part.valueCode),
      ['entropy', 'margin']
    );
    assert.equal(one(uncertainty, 'threshold').valueDecimal, 0.97);
    assert.equal(one(uncertainty, 'marginWidth').valueDecimal, 0.1);
    assert.equal(
      one(uncertainty, 'margin').valueDecimal,
      await storedExtensionValue(setup.fixture.flaggedObservationId, UNCERTAINTY_EXTENSION, 'margin')
    );
    assert.match(one(uncertainty, 'reason').valueString ?? '', /at or above the threshold of 0\.97 bits/);
    assert.match(one(uncertainty, 'reason').valueString ?? '', /below the margin width of 0\.1,/);
    // Analyzers subscribed to every AI result on the shared HAPI may rewrite the extensions, so the
    // numbers are compared with what the result contains now.
    const id = setup.fixture.flaggedObservationId;
    assert.equal(
      one(uncertainty, 'value').valueDecimal,
      await storedExtensionValue(id, UNCERTAINTY_EXTENSION, 'value')
    );
    const drift = byCode.get('model-drift');
    assert.equal(
      one(drift, 'pValue').valueDecimal,
      await storedExtensionValue(id, DRIFT_EXTENSION, 'pValue')
    );
    assert.equal(
      one(drift, 'statistic').valueDecimal,
      await storedExtensionValue(id, DRIFT_EXTENSION, 'statistic')
    );
    assert.equal(
      one(drift, 'threshold').valueDecimal,
      await storedExtensionValue(id, DRIFT_EXTENSION, 'threshold')
    );
    assert.equal(one(drift, 'window').valueString, setup.fixture.driftWindow);
    assert.match(one(drift, 'reference').valueString ?? '', /2026-01-01, 2026-01-02 \(80 results\)/);
    assert.deepEqual(await parametersErrors(result.body), []);
  });

  void it('explain-flag on a clean result', async () => {
    const setup = started();
    const result = await setup.kit.callProxy<Parameters>(
      `Observation/${setup.fixture.cleanObservationId}/$explain-flag`,
      { token: await systemToken() }
    );

    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(one(result.body.parameter, 'flagged').valueBoolean, false);
    assert.match(find(result.body.parameter, 'message')[0]?.valueString ?? '', /no monitoring Flag/);
    assert.equal(find(result.body.parameter, 'flag').length, 0);
    assert.deepEqual(await parametersErrors(result.body), []);
  });

  void it('explain-flag rejects unknown and non-AI', async () => {
    const setup = started();
    const token = await systemToken();
    const missing = await setup.kit.callProxy<OperationOutcome>(
      `Observation/mm-missing-${setup.kit.runId}/$explain-flag`,
      { token }
    );
    assert.equal(missing.status, 404);
    assert.equal(missing.body.resourceType, 'OperationOutcome');

    const plain = await setup.kit.callProxy<OperationOutcome>(
      `Observation/${setup.kit.observationA}/$explain-flag`,
      { token }
    );
    assert.equal(plain.status, 400);
    assert.match(issueText(plain.body), /not an AI result/);
  });

  void it('out-of-scope tokens get 403', async () => {
    const setup = started();
    const observationOnly = await setup.kit.sign({ scope: 'user/Observation.rs' });
    const summary = await setup.kit.callProxy<OperationOutcome>(
      `Device/${setup.fixture.deviceId}/$monitoring-summary`,
      {
        token: observationOnly,
      }
    );
    assert.equal(summary.status, 403);
    assert.match(issueText(summary.body), /Device/);

    const readOnly = await setup.kit.sign({ scope: 'user/Device.rs' });
    const report = await setup.kit.callProxy<OperationOutcome>(
      `Device/${setup.fixture.deviceId}/$compliance-report?start=2026-01-01&end=2026-01-06`,
      { token: readOnly }
    );
    assert.equal(report.status, 403);
    assert.match(issueText(report.body), /DiagnosticReport/);

    const otherPatient = await setup.kit.sign({
      scope: 'patient/Observation.rs patient/Flag.rs',
      patient: setup.kit.patientB,
    });
    const explain = await setup.kit.callProxy<OperationOutcome>(
      `Observation/${setup.fixture.flaggedObservationId}/$explain-flag`,
      { token: otherPatient }
    );
    assert.equal(explain.status, 403);

    const unauthenticated = await setup.kit.callProxy<OperationOutcome>(
      `Device/${setup.fixture.deviceId}/$drift`
    );
    assert.equal(unauthenticated.status, 401);
  });

  void it('operations send CORS headers', async () => {
    const setup = started();
    const origin = new URL(setup.kit.config.smartAppUrl).origin;
    const result = await setup.kit.callProxy<Parameters>(`Device/${setup.fixture.deviceId}/$drift`, {
      token: await systemToken(),
      headers: { origin },
    });

    assert.equal(result.status, 200);
    assert.equal(result.headers.get('access-control-allow-origin'), origin);
  });

  void it('compliance-report stores a PDF report', async () => {
    const setup = started();
    const token = await systemToken();
    const body: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'start', valueDate: '2026-01-01' },
        { name: 'end', valueDate: '2026-01-06' },
        { name: 'signOff', valueString: 'Dr Ada Synthetic, AI governance lead' },
      ],
    };
    const path = `Device/${setup.fixture.deviceId}/$compliance-report`;
    const first = await setup.kit.callProxy<DiagnosticReport>(path, { token, method: 'POST', body });

    assert.equal(first.status, 200, JSON.stringify(first.body));
    const report = first.body;
    assert.equal(report.resourceType, 'DiagnosticReport');
    assert.equal(report.status, 'final');
    assert.equal(report.subject?.reference, `Device/${setup.fixture.deviceId}`);
    assert.equal(report.effectivePeriod?.start, '2026-01-01T00:00:00.000Z');
    assert.match(report.conclusion ?? '', /critical/);
    assert.match(report.conclusion ?? '', /clinicians accepted 6 and overrode 2 /);
    assert.deepEqual(
      report.meta?.security?.map((coding) => coding.code),
      ['AIAST']
    );
    const form = report.presentedForm?.[0];
    assert.ok(form !== undefined, 'the report has no presentedForm');
    assert.equal(form.contentType, 'application/pdf');

    const parser = new PDFParse({ data: Buffer.from(form.data ?? '', 'base64') });
    // Table cells wrap long text over several lines, also after the hyphen of a metric name, so
    // whitespace is normalised before searching.
    const text = (await parser.getText()).text.replace(/\s+/g, ' ').replaceAll('- ', '-');
    await parser.destroy();
    for (const expected of [
      `Operations test model ${setup.kit.runId}`,
      setup.fixture.fdaNumber,
      'Synthetic model for the operations tests',
      'Kolmogorov-Smirnov',
      'at or above 0.97 bits or its margin is below 0.1.',
      'output-drift-ks',
      '2026-01-05',
      'No alert rule covers this finding',
      'AI governance committee',
      setup.fixture.alertAction,
      'performance-sensitivity',
      'Wilson 95% intervals',
      'Responses taken',
      `${setup.fixture.driftWindow} ${String(setup.fixture.feedback.accepted)} ${String(setup.fixture.feedback.overridden)} 0.25`,
      'Response taken to alert sensitivity-low (2026-01-04, subgroup all)',
      'Dr Ada Synthetic, AI governance lead',
    ]) {
      assert.ok(text.includes(expected), `The PDF text lacks '${expected}'`);
    }

    // First against R4 alone, then against the profile, which HAPI has only after it installed the
    // rebuilt package at its last start.
    const baseErrors = await setup.kit.validationErrors({
      ...report,
      meta: { security: report.meta.security },
    });
    assert.deepEqual(baseErrors, []);
    const second = await setup.kit.callProxy<DiagnosticReport>(path, { token, method: 'POST', body });
    assert.equal(second.status, 200);
    assert.equal(second.body.id, report.id, 'a rerun for the same period must update the stored report');
    const stored = await setup.kit.callHapi<Bundle>(
      `DiagnosticReport?subject=Device/${setup.fixture.deviceId}`
    );
    assert.equal(stored.entry?.length, 1);

    const profileErrors = await setup.kit.validationErrors(report);
    assert.deepEqual(
      profileErrors,
      [],
      `The report does not validate against ${COMPLIANCE_REPORT_PROFILE}. If HAPI cannot find the profile, restart it with peers/peers.sh so it installs the rebuilt profiles package.`
    );
  });

  void it('CapabilityStatement lists the operations', async () => {
    const setup = started();
    const result = await setup.kit.callProxy<CapabilityStatement>('metadata');

    assert.equal(result.status, 200);
    const resources = result.body.rest?.[0]?.resource ?? [];
    const operationsOf = (type: string): string[] =>
      resources.find((resource) => resource.type === type)?.operation?.map((operation) => operation.name) ??
      [];
    for (const name of ['monitoring-summary', 'drift', 'compliance-report']) {
      assert.ok(operationsOf('Device').includes(name), `Device lacks $${name}`);
    }
    assert.ok(operationsOf('Observation').includes('explain-flag'), 'Observation lacks $explain-flag');
  });
});
