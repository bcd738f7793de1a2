import type { EvaluateDriftJob, FhirClient, Logger } from '@monitormed/common';
import type Bull from 'bull';
import type { JobQueues } from '../jobs/job-queues.js';
import type { AnalyzerSettings } from '../settings.js';
import type { EvaluationStore } from '../store/evaluation-store.js';
import type { ResultsStore } from '../store/results-store.js';
import type { SurrogateUncertainty } from '../uncertainty/surrogate-uncertainty.js';

/** Shared dependencies of the job processors: peers, the drift queue, settings and the logger. */
export interface WorkerContext {
  fhir: FhirClient;
  store: ResultsStore;
  driftQueue: Bull.Queue<EvaluateDriftJob>;
  settings: AnalyzerSettings;
  log: Logger;
  /** MC dropout on the models' active surrogates; without it, uncertainty is the reported probability's entropy. */
  uncertainty?: SurrogateUncertainty;
  /** Evaluation store (sketches, reference profiles); without it, drift tests only the output against earlier windows. */
  evaluation?: EvaluationStore;
  /** The analyzers' queues, to schedule window rollups after a drift evaluation. */
  jobs?: JobQueues;
  /** Delay of those rollups; defaults to the drift debounce delay. */
  rollupDelayMs?: number;
}
