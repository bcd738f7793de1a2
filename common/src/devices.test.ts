import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  DICOM_UID_SYSTEM,
  FDA_SUBMISSION_SYSTEM,
  MODEL_CARD_EXTENSION,
  buildModelDevice,
  buildModelDeviceEntries,
} from './devices.js';
import { AI_INPUTS_SYSTEM } from './model-card.js';
import { ModelCatalogError, loadModelCatalog, type AiModelDefinition } from './models.js';

const [sepsis] = loadModelCatalog();

/** Returns a copy of `model` without the optional `fields`. */
function without(model: AiModelDefinition, fields: readonly (keyof AiModelDefinition)[]): AiModelDefinition {
  return Object.fromEntries(
    Object.entries(model).filter(([key]) => !fields.includes(key as keyof AiModelDefinition))
  ) as unknown as AiModelDefinition;
}

/** Writes `models` to a temporary catalog file and returns its path. */
function catalogFile(models: Partial<AiModelDefinition>[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'monitormed-catalog-')), 'models.json');
  writeFileSync(path, JSON.stringify(models));
  return path;
}

void describe('buildModelDevice', () => {
  void it('writes the regulatory identifiers', () => {
    assert.ok(sepsis);
    const device = buildModelDevice(sepsis);
    const fda = device.identifier?.find((identifier) => identifier.system === FDA_SUBMISSION_SYSTEM);
    assert.equal(fda?.value, 'K000000');
    const dicom = device.identifier?.find((identifier) => identifier.system === DICOM_UID_SYSTEM);
    assert.equal(dicom?.value, `urn:oid:${sepsis.dicomDeviceUid ?? ''}`);
    assert.equal(device.modelNumber, sepsis.manufacturerModelId);
    assert.equal(device.note?.[0]?.text, `Intended use: ${sepsis.intendedUse}`);
  });

  void it('omits identifiers the catalog lacks', () => {
    assert.ok(sepsis);
    const bare = without(sepsis, ['fdaSubmissionNumber', 'dicomDeviceUid', 'manufacturerModelId']);
    const device = buildModelDevice(bare);
    assert.equal(device.identifier?.length, 1);
    assert.equal(device.modelNumber, sepsis.modelId);
  });
});

void describe('buildModelDeviceEntries', () => {
  void it('links the Device to its model card', () => {
    assert.ok(sepsis);
    let counter = 0;
    const { entries, deviceEntry } = buildModelDeviceEntries(
      sepsis,
      () => `urn:uuid:test-${String(++counter)}`
    );
    assert.equal(entries.length, 2);
    const card = entries[0]?.resource;
    assert.equal(card?.resourceType, 'DocumentReference');
    const typeCoding = card.type?.coding?.[0];
    assert.equal(typeCoding?.system, AI_INPUTS_SYSTEM);
    assert.equal(typeCoding.code, 'AIModelCard');
    assert.equal(
      Buffer.from(card.content[0]?.attachment.data ?? '', 'base64').toString('utf8'),
      sepsis.modelCard
    );
    const reference = deviceEntry.resource?.extension?.find(
      (extension) => extension.url === MODEL_CARD_EXTENSION
    );
    assert.equal(reference?.valueReference?.reference, entries[0]?.fullUrl);
  });

  void it('writes only the Device without a card', () => {
    assert.ok(sepsis);
    const withoutCard = without(sepsis, ['modelCard']);
    const { entries } = buildModelDeviceEntries(withoutCard, () => 'urn:uuid:test');
    assert.deepEqual(
      entries.map((entry) => entry.resource?.resourceType),
      ['Device']
    );
  });
});

void describe('loadModelCatalog regulatory ids', () => {
  const cases: [string, Partial<AiModelDefinition>, RegExp][] = [
    ['short 510(k)', { fdaSubmissionNumber: 'K12' }, /invalid "fdaSubmissionNumber"/],
    ['unknown prefix', { fdaSubmissionNumber: 'X123456' }, /invalid "fdaSubmissionNumber"/],
    ['urn:oid prefix', { dicomDeviceUid: 'urn:oid:2.25.1' }, /invalid "dicomDeviceUid"/],
    ['leading zero arc', { dicomDeviceUid: '2.025.1' }, /invalid "dicomDeviceUid"/],
  ];
  for (const [name, change, message] of cases) {
    void it(`rejects ${name}`, () => {
      assert.throws(
        () => loadModelCatalog(catalogFile([{ ...sepsis, ...change }])),
        (err: unknown) => {
          assert.ok(err instanceof ModelCatalogError);
          assert.match(err.message, message);
          return true;
        }
      );
    });
  }

  void it('accepts PMA with supplement', () => {
    const models = loadModelCatalog(catalogFile([{ ...sepsis, fdaSubmissionNumber: 'P123456/S001' }]));
    assert.equal(models[0]?.fdaSubmissionNumber, 'P123456/S001');
  });
});
