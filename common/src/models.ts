import { readFileSync } from 'node:fs';
import type { Coding } from '@medplum/fhirtypes';

/**
 * One monitored AI model: who makes it, how its HL7 v2 results are recognised, and how its output reads.
 * The catalog is JSON so that an interface analyst can add a model without code.
 */
export interface AiModelDefinition {
  /** Stable id, stored as Device.identifier in MODEL_ID_SYSTEM, for example `sepsis-risk`. */
  modelId: string;
  /** Device.deviceName shown to users. */
  name: string;
  /** Model version as the manufacturer reports it. */
  version: string;
  manufacturer: string;
  /** AI Transparency IG AIdeviceTypeCS code of the more specific kind, such as `Machine-Learning-Models`. */
  kind: string;
  /** Intended use statement, from the manufacturer's labelling. */
  intendedUse: string;
  /** The manufacturer's own model id (catalog or part number), written to Device.modelNumber. */
  manufacturerModelId?: string;
  /** FDA marketing submission number: 510(k) `K…`, De Novo `DEN…` or PMA `P…`. */
  fdaSubmissionNumber?: string;
  /**
   * DICOM Device UID of the trained model, dot-separated digits such as `2.25.1234`. A retrained model
   * gets a new UID, so the UID distinguishes model versions where the version string does not.
   */
  dicomDeviceUid?: string;
  /** Model card in Hugging Face model card form (YAML front matter and Markdown), stored as a DocumentReference. */
  modelCard?: string;
  /** HL7 v2 rule: results match when every field given here matches. */
  match: {
    /** MSH-3.1 sending application. */
    sendingApplication?: string;
    /** OBX-3.1 codes of the model's output. */
    observationCodes?: string[];
    /** OBX-18.1 equipment instance ids under which the model reports its results. */
    equipmentIds?: string[];
  };
  /** Code of the output observation (OBX-3 and Observation.code). */
  outputCode: Coding;
  /** Score at or above which the model reports a positive finding. */
  positiveThreshold: number;
}

/** Thrown when the model catalog file cannot be read or is malformed. */
export class ModelCatalogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelCatalogError';
  }
}

const DEMO_CATALOG_URL = new URL('../models/demo-models.json', import.meta.url);

/**
 * Reads the model catalog from `path`, by default the file in `MONITORMED_MODELS_FILE` or the demo catalog.
 * @param path - Path of a JSON array of {@link AiModelDefinition}.
 * @returns The model definitions.
 * @throws ModelCatalogError when the file is missing, not JSON, or a model lacks a required field.
 */
export function loadModelCatalog(path?: string): AiModelDefinition[] {
  const source = path ?? process.env['MONITORMED_MODELS_FILE'] ?? DEMO_CATALOG_URL;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(source, 'utf8'));
  } catch (err) {
    throw new ModelCatalogError(`Cannot read model catalog ${String(source)}: ${(err as Error).message}`);
  }

  if (!Array.isArray(parsed)) {
    throw new ModelCatalogError(`Model catalog ${String(source)} must be a JSON array of models.`);
  }
  for (const [index, model] of parsed.entries()) {
    const m = model as Partial<AiModelDefinition>;
    for (const field of ['modelId', 'name', 'version', 'manufacturer', 'outputCode'] as const) {
      if (m[field] === undefined) {
        throw new ModelCatalogError(`Model ${index} in ${String(source)} is missing "${field}".`);
      }
    }
  }
  for (const [index, model] of parsed.entries()) {
    checkRegulatoryIds(model as Partial<AiModelDefinition>, index, String(source));
  }
  return parsed as AiModelDefinition[];
}

// The same rules as the invariants mm-fda-submission and mm-urn-oid of the monitored-ai-device profile.
const FDA_SUBMISSION_PATTERN = /^(K[0-9]{6}|DEN[0-9]{6}|P[0-9]{6}(\/S[0-9]{3})?)$/;
const OID_PATTERN = /^[0-2](\.(0|[1-9][0-9]*))+$/;

/** Rejects an FDA submission number or DICOM UID that the Device profile would reject. */
function checkRegulatoryIds(model: Partial<AiModelDefinition>, index: number, source: string): void {
  if (model.fdaSubmissionNumber !== undefined && !FDA_SUBMISSION_PATTERN.test(model.fdaSubmissionNumber)) {
    throw new ModelCatalogError(
      `Model ${String(index)} in ${source} has an invalid "fdaSubmissionNumber" ${JSON.stringify(model.fdaSubmissionNumber)}: use K or DEN and 6 digits, or P and 6 digits with an optional /S001 supplement.`
    );
  }
  if (model.dicomDeviceUid !== undefined && !OID_PATTERN.test(model.dicomDeviceUid)) {
    throw new ModelCatalogError(
      `Model ${String(index)} in ${source} has an invalid "dicomDeviceUid" ${JSON.stringify(model.dicomDeviceUid)}: use dot-separated digits without urn:oid:, such as 2.25.1234.`
    );
  }
}
