/**
 * Model registration against the real HAPI FHIR peer (FHIR_BASE_URL): a Device from an older catalog is
 * updated in place, a new model gets a Device, and a concurrent change is merged rather than overwritten.
 * Each run uses its own model ids and deletes its Devices and model cards at the end.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import type { Bundle, Device, OperationOutcome, Resource } from '@medplum/fhirtypes';
import {
  DICOM_UID_SYSTEM,
  FDA_SUBMISSION_SYSTEM,
  MODEL_CARD_EXTENSION,
  MODEL_ID_SYSTEM,
  ModelRegistrationError,
  buildModelDevice,
  createFhirClient,
  loadConfig,
  loadModelCatalog,
  registerModel,
  type AiModelDefinition,
} from '@monitormed/common';
import { Client, type UpdateParams } from 'fhir-kit-client';
import { RegisterFailedError, UsageError, runRegister } from './register.js';

const config = loadConfig();
const runId = randomUUID().slice(0, 8);
const DEVICE_PROFILE = 'https://monitormed.dev/fhir/StructureDefinition/monitored-ai-device';
const [demoModel] = loadModelCatalog();
const written: string[] = [];

/** Returns a catalog model with a model id unique to this run and test. */
function testModel(name: string, changes: Partial<AiModelDefinition> = {}): AiModelDefinition {
  assert.ok(demoModel);
  return { ...demoModel, modelId: `mm-reg-${runId}-${name}`, ...changes };
}

function catalogFile(models: AiModelDefinition[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'monitormed-register-')), 'models.json');
  writeFileSync(path, JSON.stringify(models));
  return path;
}

async function hapi<T = Resource>(path: string, method = 'GET', body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${config.fhirBaseUrl}/${path}`, {
      method,
      headers: {
        'content-type': 'application/fhir+json',
        accept: 'application/fhir+json',
        'cache-control': 'no-cache',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new Error(
      `HAPI FHIR at ${config.fhirBaseUrl} is not reachable (${(err as Error).message}). Start it with peers/peers.sh start hapi.`
    );
  }
  return (await response.json()) as T;
}

async function devicesOf(modelId: string): Promise<Device[]> {
  const bundle = await hapi<Bundle<Device>>(`Device?identifier=${MODEL_ID_SYSTEM}|${modelId}`);
  return (bundle.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
}

/** Writes a Device as the catalog of an earlier release did: no regulatory identifiers, no model card. */
async function storeLegacyDevice(model: AiModelDefinition): Promise<Device> {
  const legacy = buildModelDevice({
    ...model,
    version: '2.0.0',
    fdaSubmissionNumber: undefined,
    dicomDeviceUid: undefined,
    manufacturerModelId: undefined,
    modelCard: undefined,
  });
  legacy.identifier?.push({ system: 'https://hospital.example/sid/asset', value: `asset-${runId}` });
  const stored = await hapi<Device>('Device', 'POST', legacy);
  assert.ok(stored.id !== undefined, `HAPI did not store the legacy Device: ${JSON.stringify(stored)}`);
  written.push(`Device/${stored.id}`);
  return stored;
}

async function profileErrors(resource: Resource): Promise<string[]> {
  const outcome = await hapi<OperationOutcome>(
    `Device/$validate?profile=${encodeURIComponent(DEVICE_PROFILE)}`,
    'POST',
    resource
  );
  return outcome.issue
    .filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
    .map((issue) => issue.diagnostics ?? issue.code);
}

/** A fhir-kit-client whose first Device update is preceded by another writer's update of the same Device. */
class RacingClient extends Client {
  raced = false;

  override async update(params: UpdateParams): ReturnType<Client['update']> {
    if (!this.raced && params.resourceType === 'Device' && params.id !== undefined) {
      this.raced = true;
      const current = (await super.read({ resourceType: 'Device', id: params.id })) as unknown as Device;
      current.note = [...(current.note ?? []), { text: 'Moved to the imaging department.' }];
      await super.update({ resourceType: 'Device', id: params.id, body: { ...current } });
    }
    return super.update(params);
  }
}

void describe('register command', () => {
  after(async () => {
    // Devices first, because they reference the model cards.
    for (const reference of written.reverse()) {
      await hapi(reference, 'DELETE');
    }
  });

  void it('updates a legacy Device in place', async () => {
    const model = testModel('legacy');
    const legacy = await storeLegacyDevice(model);

    const [registration] = await runRegister(
      ['--catalog', catalogFile([model]), '--model', model.modelId],
      config
    );
    assert.ok(registration !== undefined);
    written.push(`DocumentReference/${registration.modelCardId ?? ''}`);
    assert.equal(registration.action, 'updated');
    assert.equal(registration.deviceId, legacy.id);
    assert.equal(registration.versionId, '2');

    const devices = await devicesOf(model.modelId);
    assert.equal(devices.length, 1, 'registration created a second Device');
    const device = devices[0];
    assert.ok(device !== undefined);
    const values = new Map((device.identifier ?? []).map((id) => [id.system, id.value]));
    assert.equal(values.get(FDA_SUBMISSION_SYSTEM), model.fdaSubmissionNumber);
    assert.equal(values.get(DICOM_UID_SYSTEM), `urn:oid:${model.dicomDeviceUid ?? ''}`);
    assert.equal(values.get('https://hospital.example/sid/asset'), `asset-${runId}`);
    assert.equal(device.modelNumber, model.manufacturerModelId);
    assert.equal(device.version?.[0]?.value, model.version);
    const card = device.extension?.find((extension) => extension.url === MODEL_CARD_EXTENSION);
    assert.equal(card?.valueReference?.reference, `DocumentReference/${registration.modelCardId ?? ''}`);
    assert.deepEqual(await profileErrors(device), []);
  });

  void it('leaves a current Device unchanged', async () => {
    const model = testModel('again');
    const [first] = await runRegister(['--catalog', catalogFile([model])], config);
    assert.ok(first !== undefined);
    written.push(`DocumentReference/${first.modelCardId ?? ''}`, `Device/${first.deviceId}`);
    assert.equal(first.action, 'created');

    const [second] = await runRegister(['--catalog', catalogFile([model])], config);
    assert.equal(second?.action, 'unchanged');
    assert.equal(second.deviceId, first.deviceId);
    assert.equal(second.versionId, '1');
    assert.equal(second.modelCardId, first.modelCardId);
    assert.equal((await devicesOf(model.modelId)).length, 1);
  });

  void it('merges a concurrent change', async () => {
    const model = testModel('race');
    const legacy = await storeLegacyDevice(model);
    const client = new RacingClient({ baseUrl: config.fhirBaseUrl });

    const registration = await registerModel(client, model);
    written.push(`DocumentReference/${registration.modelCardId ?? ''}`);
    assert.ok(client.raced, 'the racing update did not run');
    assert.equal(registration.action, 'updated');
    assert.equal(registration.versionId, '3');

    const device = await hapi<Device>(`Device/${legacy.id ?? ''}`);
    assert.ok(device.note?.some((note) => note.text === 'Moved to the imaging department.'));
    const fda = device.identifier?.find((id) => id.system === FDA_SUBMISSION_SYSTEM);
    assert.equal(fda?.value, model.fdaSubmissionNumber);
  });

  void it('rejects duplicate Devices', async () => {
    const model = testModel('dup', { modelCard: undefined });
    await storeLegacyDevice(model);
    await storeLegacyDevice(model);

    await assert.rejects(registerModel(createFhirClient(config), model), (err: unknown) => {
      assert.ok(err instanceof ModelRegistrationError);
      assert.match(err.message, /2 Devices carry model id/);
      return true;
    });
    await assert.rejects(runRegister(['--catalog', catalogFile([model])], config), RegisterFailedError);
  });

  void it('rejects an unknown model id', async () => {
    const model = testModel('unknown');
    await assert.rejects(
      runRegister(['--catalog', catalogFile([model]), '--model', 'no-such-model'], config),
      (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, /'no-such-model' is not in the catalog/);
        return true;
      }
    );
  });
});

void describe('register command line', () => {
  const script = fileURLToPath(new URL('./register.ts', import.meta.url));
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8' });

  void it('prints usage with exit 0 on --help', () => {
    const { status, stdout } = run(['--help']);
    assert.equal(status, 0);
    assert.match(stdout, /^Usage: npm run --silent register -w sdk -- /);
    assert.match(stdout, /--model ID/);
  });

  void it('exits 2 on an unknown option and points to --help', () => {
    const { status, stderr } = run(['--catalogue', 'models.json']);
    assert.equal(status, 2);
    assert.match(stderr, /^register: Unknown option '--catalogue'.*Run with --help/);
  });
});
