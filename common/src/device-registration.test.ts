import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Device } from '@medplum/fhirtypes';
import { mergeModelDevice } from './device-registration.js';
import {
  AI_KIND_EXTENSION,
  DICOM_UID_SYSTEM,
  FDA_SUBMISSION_SYSTEM,
  MODEL_CARD_EXTENSION,
  buildModelDevice,
} from './devices.js';
import { MODEL_ID_SYSTEM } from './fhir-codes.js';
import { loadModelCatalog, type AiModelDefinition } from './models.js';

const [catalogModel] = loadModelCatalog();

function sepsis(): AiModelDefinition {
  assert.ok(catalogModel);
  return catalogModel;
}

/** Builds a Device as an older catalog wrote it: model id only, no regulatory identifiers, no model card. */
function legacyDevice(model: AiModelDefinition): Device {
  return {
    resourceType: 'Device',
    id: 'legacy-1',
    meta: { versionId: '4', lastUpdated: '2026-01-01T00:00:00Z' },
    identifier: [
      { system: MODEL_ID_SYSTEM, value: model.modelId },
      { system: 'https://hospital.example/sid/asset', value: 'A-17' },
    ],
    status: 'active',
    manufacturer: model.manufacturer,
    deviceName: [{ name: model.name, type: 'model-name' }],
    modelNumber: model.modelId,
    type: buildModelDevice(model).type,
    version: [{ value: '2.0.0' }],
    extension: [
      { url: AI_KIND_EXTENSION, valueCodeableConcept: { coding: [{ code: model.kind }] } },
      { url: 'https://hospital.example/fhir/StructureDefinition/ward', valueString: 'ICU' },
    ],
    note: [{ text: 'Intended use: an older statement.' }, { text: 'Installed by biomedical engineering.' }],
  };
}

void describe('mergeModelDevice', () => {
  void it('adds the catalog identifiers', () => {
    const model = sepsis();
    const merged = mergeModelDevice(legacyDevice(model), model, 'DocumentReference/card-1');
    assert.ok(merged !== undefined);

    const values = new Map((merged.identifier ?? []).map((id) => [id.system, id.value]));
    assert.equal(values.get(FDA_SUBMISSION_SYSTEM), model.fdaSubmissionNumber);
    assert.equal(values.get(DICOM_UID_SYSTEM), `urn:oid:${model.dicomDeviceUid ?? ''}`);
    assert.equal(values.get(MODEL_ID_SYSTEM), model.modelId);
    assert.equal(merged.modelNumber, model.manufacturerModelId);
    assert.deepEqual(merged.version, [{ value: model.version }]);
    const card = merged.extension?.find((extension) => extension.url === MODEL_CARD_EXTENSION);
    assert.equal(card?.valueReference?.reference, 'DocumentReference/card-1');
  });

  void it('keeps what the catalog does not own', () => {
    const model = sepsis();
    const merged = mergeModelDevice(legacyDevice(model), model, 'DocumentReference/card-1');
    assert.ok(merged !== undefined);

    assert.equal(merged.id, 'legacy-1');
    assert.equal(merged.meta?.versionId, '4');
    assert.ok(merged.identifier?.some((id) => id.value === 'A-17'));
    assert.ok(merged.extension?.some((extension) => extension.valueString === 'ICU'));
    assert.deepEqual(
      merged.note?.map((note) => note.text),
      [`Intended use: ${model.intendedUse}`, 'Installed by biomedical engineering.']
    );
    assert.equal(merged.identifier?.filter((id) => id.system === MODEL_ID_SYSTEM).length, 1);
  });

  void it('returns undefined when current', () => {
    const model = sepsis();
    const current: Device = {
      ...buildModelDevice(model, 'DocumentReference/card-1'),
      id: 'current-1',
      meta: { versionId: '2' },
    };
    assert.equal(mergeModelDevice(current, model, 'DocumentReference/card-1'), undefined);
  });

  void it('keeps the card without a new one', () => {
    const model = sepsis();
    const stored: Device = { ...buildModelDevice(model, 'DocumentReference/card-1'), id: 'current-1' };
    assert.equal(mergeModelDevice(stored, model, undefined), undefined);
  });

  void it('replaces a retrained model UID', () => {
    const model = { ...sepsis(), dicomDeviceUid: '2.25.42' };
    const stored: Device = { ...buildModelDevice(sepsis()), id: 'current-1' };
    const merged = mergeModelDevice(stored, model);
    const uids = merged?.identifier?.filter((id) => id.system === DICOM_UID_SYSTEM);
    assert.deepEqual(uids, [{ system: DICOM_UID_SYSTEM, value: 'urn:oid:2.25.42' }]);
  });
});
