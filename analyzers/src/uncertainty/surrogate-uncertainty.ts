/**
 * MC dropout uncertainty of one AI result in the worker: gathers the result's inputs over FHIR and runs the
 * model's active surrogate. Loaded surrogates are cached per model and re-checked against MongoDB.
 */
import type { FhirClient, Logger } from '@monitormed/common';
import { encodeFeatures, featureNames, featureSpecFor } from '../surrogate/features.js';
import { gatherInputs } from '../surrogate/pairs.js';
import { surrogateBytes, type SurrogateStore } from '../surrogate/store.js';
import { McDropoutScorer, type McDropoutEstimate } from './mc-dropout.js';

/** An MC dropout estimate with the surrogate version that produced it. */
export interface McUncertainty extends McDropoutEstimate {
  surrogateVersion: number;
}

/** Options of {@link SurrogateUncertainty}. */
export interface SurrogateUncertaintyOptions {
  /** Passes per result, T. */
  samples: number;
  /** How long a loaded surrogate is used before MongoDB is asked again for the active version; defaults to 60 000 ms. */
  refreshMs?: number;
}

/** A model's loaded surrogate; without `scorer` the model had no usable active surrogate when checked. */
interface CachedScorer {
  checkedAtMs: number;
  version?: number;
  scorer?: McDropoutScorer;
  /** Lookback the surrogate was trained with, in hours. */
  lookbackHours?: number;
  /** Model version whose results trained the surrogate, when recorded. */
  modelVersion?: string;
}

/** Estimates MC dropout uncertainty for results of models that have an active surrogate. */
export class SurrogateUncertainty {
  private readonly cache = new Map<string, Promise<CachedScorer>>();
  /** Scorers of replaced versions; jobs may still be running them, so they are released only by close(). */
  private readonly retired: McDropoutScorer[] = [];
  /** Models whose cached surrogate is checked against MongoDB at the next estimate, before `refreshMs`. */
  private readonly staleModels = new Set<string>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly fhir: FhirClient,
    private readonly store: SurrogateStore,
    private readonly log: Logger,
    private readonly options: SurrogateUncertaintyOptions
  ) {}

  /**
   * Estimates the MC dropout uncertainty of one result.
   * @param modelId - The result's model.
   * @param patientId - The result's subject.
   * @param effective - The result's effectiveDateTime.
   * @param modelVersion - The result's model version. A surrogate trained on another version's results is
   *   not used for it; a surrogate without recorded version is used for every version.
   * @returns The estimate, or undefined when the model has no known inputs or no active surrogate for its
   *   version, or the patient has no input value in the lookback (the caller then uses the reported
   *   probability's entropy).
   */
  async estimate(
    modelId: string,
    patientId: string,
    effective: string,
    modelVersion?: string
  ): Promise<McUncertainty | undefined> {
    const cached = await this.activeScorer(modelId);
    const { scorer, version, lookbackHours } = cached;
    if (scorer === undefined || version === undefined) {
      return undefined;
    }
    if (
      cached.modelVersion !== undefined &&
      modelVersion !== undefined &&
      cached.modelVersion !== modelVersion
    ) {
      return undefined;
    }
    const spec = featureSpecFor(modelId, lookbackHours);
    if (spec === undefined) {
      return undefined;
    }

    const values = await gatherInputs(this.fhir, spec, patientId, Date.parse(effective));
    if (Object.keys(values).length === 0) {
      return undefined;
    }
    const [estimate] = await scorer.estimate([encodeFeatures(spec, values)], this.options.samples);
    return estimate === undefined ? undefined : { ...estimate, surrogateVersion: version };
  }

  private async activeScorer(modelId: string): Promise<CachedScorer> {
    if (this.closing !== undefined) {
      throw new Error('The surrogate uncertainty estimator was closed.');
    }
    const refreshMs = this.options.refreshMs ?? 60_000;
    const cached = this.cache.get(modelId);
    const entry = cached === undefined ? undefined : await cached;
    if (entry !== undefined && !this.staleModels.has(modelId) && Date.now() - entry.checkedAtMs < refreshMs) {
      return entry;
    }
    this.staleModels.delete(modelId);

    // Concurrent jobs of one model share one load.
    const loading = this.load(modelId, entry);
    this.cache.set(modelId, loading);
    try {
      return await loading;
    } catch (err) {
      this.cache.delete(modelId);
      throw err;
    }
  }

  private async load(modelId: string, previous: CachedScorer | undefined): Promise<CachedScorer> {
    const spec = featureSpecFor(modelId);
    const document = spec === undefined ? undefined : await this.store.findActive(modelId);
    if (document?.version === previous?.version && previous !== undefined) {
      return { ...previous, checkedAtMs: Date.now() };
    }
    if (previous?.scorer !== undefined) {
      this.retired.push(previous.scorer);
    }

    if (spec === undefined || document === undefined) {
      return { checkedAtMs: Date.now() };
    }
    const expected = featureNames(spec);
    if (JSON.stringify(document.featureNames) !== JSON.stringify(expected)) {
      this.log.warn(
        { modelId, surrogateVersion: document.version },
        'Active surrogate has other features than the model spec; retrain it. Using entropy instead.'
      );
      return { checkedAtMs: Date.now() };
    }

    const scorer = await McDropoutScorer.create(surrogateBytes(document), expected.length);
    this.log.info({ modelId, surrogateVersion: document.version }, 'Loaded surrogate for MC dropout');
    return {
      checkedAtMs: Date.now(),
      version: document.version,
      scorer,
      lookbackHours: document.lookbackHours,
      ...(document.modelVersion === undefined ? {} : { modelVersion: document.modelVersion }),
    };
  }

  /**
   * Makes the next estimate of a model ask MongoDB for its active surrogate, without waiting for
   * `refreshMs`. The training job calls it after storing a new version.
   * @param modelId - The model whose surrogate changed.
   */
  reload(modelId: string): void {
    this.staleModels.add(modelId);
  }

  /** Releases every loaded surrogate session; safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const entries = await Promise.allSettled(this.cache.values());
      this.cache.clear();
      for (const entry of entries) {
        if (entry.status === 'fulfilled') {
          await entry.value.scorer?.close();
        }
      }
      for (const scorer of this.retired.splice(0)) {
        await scorer.close();
      }
    })();
    return this.closing;
  }
}
