/**
 * Versioned surrogate models in MongoDB. FerretDB has no GridFS, so the ONNX bytes are a BinData field of
 * the version's document, which limits a surrogate to {@link MAX_SURROGATE_BYTES}.
 */
import { createHash } from 'node:crypto';
import { Binary, MongoServerError, type Collection, type Db } from 'mongodb';
import type { SurrogateFidelity } from './fidelity.js';

/** Collection of the surrogate versions. */
export const SURROGATES_COLLECTION = 'surrogates';

/**
 * Largest ONNX model stored: 8 MiB, half of the 16 MiB BSON document limit that MongoDB and FerretDB share,
 * so the metadata always fits. A surrogate MLP of a few thousand weights takes tens of kilobytes.
 */
export const MAX_SURROGATE_BYTES = 8 * 1024 * 1024;

const DUPLICATE_KEY_CODE = 11000;

/** Metadata of a trained surrogate version, stored beside its bytes. */
export interface SurrogateVersionInfo {
  modelId: string;
  /**
   * Version of the monitored model whose results trained it (its Device.version). Versions stored before
   * this field existed have none, and the workers use them for every model version.
   */
  modelVersion?: string;
  /** Feature names in input column order. */
  featureNames: string[];
  /** Pairs used, in total and per split. */
  trainingSize: number;
  splitSizes: { train: number; validation: number; test: number };
  fidelity: SurrogateFidelity;
  dropoutRate: number;
  hiddenSizes: number[];
  /** Lookback of the input values, in hours. */
  lookbackHours: number;
  /** Source of the pairs: `fhir` or `csv`. */
  source: 'fhir' | 'csv';
  /** Effective-time range of the FHIR results used, when the source is `fhir`. */
  trainingRange?: { from?: string; to?: string };
  /** Id of the training job that stored it; at most one version per job id (see jobs/definitions.ts). */
  trainingJobId?: string;
  trainedAt: Date;
}

/** One stored version, keyed by model id and version. */
export interface SurrogateDocument extends SurrogateVersionInfo {
  /** 1 for the first surrogate of a model, then increasing by one. */
  version: number;
  onnx: Binary;
  sizeBytes: number;
  /** SHA-256 of the ONNX bytes, hex. */
  sha256: string;
  /** Whether the workers may use it; the highest active version of a model is the one used. */
  active: boolean;
}

/** Thrown when a surrogate is larger than {@link MAX_SURROGATE_BYTES}. */
export class SurrogateTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SurrogateTooLargeError';
  }
}

/** Thrown when a version for the same training job id is already stored, so nothing new was stored. */
export class TrainingAlreadyStoredError extends Error {
  constructor(readonly document: SurrogateDocument) {
    super(
      `Training job ${String(document.trainingJobId)} already stored ${document.modelId} surrogate version ${String(document.version)}.`
    );
    this.name = 'TrainingAlreadyStoredError';
  }
}

/** Typed access to {@link SURROGATES_COLLECTION}. */
export class SurrogateStore {
  private readonly surrogates: Collection<SurrogateDocument>;

  constructor(db: Db) {
    this.surrogates = db.collection<SurrogateDocument>(SURROGATES_COLLECTION);
  }

  /** Creates the unique (modelId, version) and trainingJobId indexes; safe to repeat. */
  async ensureIndexes(): Promise<void> {
    await this.surrogates.createIndex(
      { modelId: 1, version: 1 },
      { unique: true, name: 'model_version_unique' },
      undefined
    );
    // Sparse, because versions trained by the command have no job id. FerretDB 1.24 rejects
    // partialFilterExpression but supports sparse unique indexes, as MongoDB does.
    await this.surrogates.createIndex(
      { trainingJobId: 1 },
      { unique: true, sparse: true, name: 'training_job_unique' },
      undefined
    );
  }

  /**
   * Stores a new version of a model's surrogate as the active one, and deactivates the older versions.
   * @param info - Metadata of the version.
   * @param exportOnnx - Builds the ONNX bytes for the version number, which the bytes carry in metadata.
   * @returns The stored document.
   * @throws SurrogateTooLargeError when the bytes exceed {@link MAX_SURROGATE_BYTES}.
   * @throws TrainingAlreadyStoredError when `info.trainingJobId` is set and a version with that job id exists.
   */
  async saveVersion(
    info: SurrogateVersionInfo,
    exportOnnx: (version: number) => Uint8Array
  ): Promise<SurrogateDocument> {
    // Two trainings of one model can pick the same number; the unique index rejects one, which retries.
    for (let attempt = 0; ; attempt += 1) {
      const latest = await this.surrogates.findOne(
        { modelId: info.modelId },
        { sort: { version: -1 }, projection: { version: 1 } }
      );
      const version = (latest?.version ?? 0) + 1;
      const bytes = exportOnnx(version);
      if (bytes.byteLength > MAX_SURROGATE_BYTES) {
        throw new SurrogateTooLargeError(
          `Surrogate of ${info.modelId} is ${String(bytes.byteLength)} bytes, above the ${String(MAX_SURROGATE_BYTES)}-byte limit; use fewer or smaller hidden layers.`
        );
      }

      const document: SurrogateDocument = {
        ...info,
        version,
        onnx: new Binary(Buffer.from(bytes)),
        sizeBytes: bytes.byteLength,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        active: true,
      };
      // The driver stores an undefined field as null, and the sparse unique index would then count every
      // version without a job id as the same null key.
      if (document.trainingJobId === undefined) {
        delete document.trainingJobId;
      }
      try {
        await this.surrogates.insertOne({ ...document });
      } catch (err) {
        if (err instanceof MongoServerError && err.code === DUPLICATE_KEY_CODE) {
          // The clash is either another training's version number (retry with the next number) or an
          // earlier run of the same training job (stop).
          const earlier =
            info.trainingJobId === undefined ? undefined : await this.findByTrainingJob(info.trainingJobId);
          if (earlier !== undefined) {
            throw new TrainingAlreadyStoredError(earlier);
          }
          if (attempt < 5) {
            continue;
          }
        }
        throw err;
      }

      await this.surrogates.updateMany(
        { modelId: info.modelId, version: { $ne: version } },
        { $set: { active: false } }
      );
      return document;
    }
  }

  /**
   * Finds the surrogate the workers use for a model: its highest active version.
   * @param modelId - Model id.
   * @returns The document, or undefined when the model has no active surrogate.
   */
  async findActive(modelId: string): Promise<SurrogateDocument | undefined> {
    const document = await this.surrogates.findOne(
      { modelId, active: true },
      { sort: { version: -1 }, projection: { _id: 0 } }
    );
    return document ?? undefined;
  }

  /**
   * Finds the version that a training job stored.
   * @param trainingJobId - The job id.
   * @returns The document, or undefined when the job stored none.
   */
  async findByTrainingJob(trainingJobId: string): Promise<SurrogateDocument | undefined> {
    const document = await this.surrogates.findOne({ trainingJobId }, { projection: { _id: 0 } });
    return document ?? undefined;
  }

  /**
   * Finds one version of a model's surrogate, active or not.
   * @returns The document, or undefined when the version does not exist.
   */
  async findVersion(modelId: string, version: number): Promise<SurrogateDocument | undefined> {
    const document = await this.surrogates.findOne({ modelId, version }, { projection: { _id: 0 } });
    return document ?? undefined;
  }

  /**
   * Makes one version the active one and deactivates the others, to roll back or forward.
   * @returns False when the version does not exist.
   */
  async activate(modelId: string, version: number): Promise<boolean> {
    const updated = await this.surrogates.updateOne({ modelId, version }, { $set: { active: true } });
    if (updated.matchedCount === 0) {
      return false;
    }
    await this.surrogates.updateMany({ modelId, version: { $ne: version } }, { $set: { active: false } });
    return true;
  }
}

/**
 * Returns the ONNX bytes of a stored document, checking them against its size and hash.
 * @param document - A stored version.
 * @returns The bytes.
 * @throws Error when the stored bytes do not match the recorded size or SHA-256.
 */
export function surrogateBytes(document: SurrogateDocument): Uint8Array {
  const bytes = new Uint8Array(document.onnx.buffer);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (bytes.byteLength !== document.sizeBytes || sha256 !== document.sha256) {
    throw new Error(
      `Stored surrogate ${document.modelId} version ${String(document.version)} is corrupt: size or SHA-256 does not match; train a new version.`
    );
  }
  return bytes;
}
