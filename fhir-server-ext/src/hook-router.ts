/**
 * Receives rest-hook deliveries from the FHIR server and turns each AI-asserted Observation version into one
 * analysis job. HAPI FHIR sends `PUT {endpoint}/Observation/{id}` with the resource. A plain `POST {endpoint}`
 * is accepted too, with a resource or with an empty body (the id-only notification of R4 rest-hooks).
 */
import type { Observation, Resource } from '@medplum/fhirtypes';
import {
  analyzeJobId,
  hasAiLabel,
  isAnalyzerWrite,
  type AnalyzeResultJob,
  type Logger,
} from '@monitormed/common';
import type { JobOptions, Queue } from 'bull';
import { Router, type Request, type Response } from 'express';
import type { HookMetrics } from './metrics.js';
import { badRequest, informational, unauthorized, unavailable, type HttpOutcome } from './outcomes.js';
import { secretMatches } from './secret.js';
import { SECRET_HEADER } from './subscription.js';
import { withTimeout } from './timeout-error.js';

/** Path of the hook below the server root; the Subscription endpoint is `<base URL><HOOK_PATH>`. */
export const HOOK_PATH = '/subscription-hook';

/** Dependencies of the hook router. */
export interface HookDependencies {
  queue: Queue<AnalyzeResultJob>;
  secret: string;
  metrics: HookMetrics;
  log: Logger;
  /** Options of every added job, besides its id. */
  jobOptions: JobOptions;
  /** Time limit of one Redis call; after it the delivery gets 503 so that HAPI retries. */
  queueTimeoutMs: number;
}

/**
 * Creates the router that serves {@link HOOK_PATH}.
 * @param deps - Queue, secret, metrics and logger.
 * @returns An express router.
 */
export function createHookRouter(deps: HookDependencies): Router {
  const router = Router();

  router.use(HOOK_PATH, (req, res, next) => {
    deps.metrics.deliveries.inc({ method: req.method });
    if (!secretMatches(req.get(SECRET_HEADER), deps.secret)) {
      deps.log.warn({ method: req.method }, 'Rejected subscription delivery with a missing or wrong secret');
      reject(res, deps, 'unauthorized', unauthorized(`Missing or wrong ${SECRET_HEADER} header.`));
      return;
    }
    next();
  });

  router.put(`${HOOK_PATH}/:resourceType/:id`, async (req, res) => {
    await handleDelivery(req, res, deps, { resourceType: req.params['resourceType'], id: req.params['id'] });
  });

  router.post(HOOK_PATH, async (req, res) => {
    if (isEmptyBody(req.body)) {
      // An id-only notification names no resource version, so there is nothing to queue.
      deps.log.info('Received a subscription notification without payload; nothing queued');
      sendOutcome(res, informational('Notification without payload received; nothing was queued.'));
      return;
    }
    await handleDelivery(req, res, deps, {});
  });

  return router;
}

async function handleDelivery(
  req: Request,
  res: Response,
  deps: HookDependencies,
  path: { resourceType?: string; id?: string }
): Promise<void> {
  const parsed = parseDeliveredObservation(req.body, path);
  if (typeof parsed === 'string') {
    deps.log.warn({ reason: parsed }, 'Rejected invalid subscription delivery');
    reject(res, deps, 'invalid', badRequest(parsed));
    return;
  }

  const job: AnalyzeResultJob = { resourceType: 'Observation', id: parsed.id, versionId: parsed.versionId };
  const jobId = analyzeJobId(job);

  // A version the analyzers wrote back has the value and inputs of one already analysed, and analysing
  // it again would write another version, whose delivery would start the loop over.
  if (parsed.analyzerWrite) {
    deps.metrics.analyzerWriteDeliveries.inc();
    deps.log.debug({ jobId }, 'Delivery of a version the analyzers wrote; no job added');
    sendOutcome(res, informational(`${jobId} was written by the analyzers; no job was added.`));
    return;
  }

  let added: boolean;
  try {
    added = await enqueueOnce(deps, job, jobId);
  } catch (err) {
    deps.log.error({ err, jobId }, 'Failed to queue the analysis job; responding 503 so the server retries');
    reject(res, deps, 'unavailable', unavailable('The analysis queue (Redis) is unavailable; retry later.'));
    return;
  }

  if (added) {
    deps.metrics.jobsEnqueued.inc();
    deps.log.info({ jobId }, 'Queued AI result for analysis');
    sendOutcome(res, informational(`Queued ${jobId} for analysis.`));
  } else {
    deps.metrics.duplicateDeliveries.inc();
    deps.log.info({ jobId }, 'Delivery of an already queued version; no job added');
    sendOutcome(res, informational(`${jobId} was already queued; no job was added.`));
  }
}

/**
 * Adds the job unless a job with its id exists. The look-up only decides the response and the metric: the
 * id itself makes bull drop a second add, so two concurrent deliveries still yield one job.
 */
async function enqueueOnce(deps: HookDependencies, job: AnalyzeResultJob, jobId: string): Promise<boolean> {
  const existing = await withTimeout(
    deps.queue.getJob(jobId),
    deps.queueTimeoutMs,
    `Redis did not respond within ${deps.queueTimeoutMs} ms`
  );
  if (existing !== null) {
    return false;
  }

  await withTimeout(
    deps.queue.add(job, { ...deps.jobOptions, jobId }),
    deps.queueTimeoutMs,
    `Redis did not respond within ${deps.queueTimeoutMs} ms`
  );
  return true;
}

/**
 * Checks a delivered body: an AIAST-labelled Observation with id and meta.versionId, matching the URL.
 * @returns The id and version, or the reason it is invalid.
 */
function parseDeliveredObservation(
  body: unknown,
  path: { resourceType?: string; id?: string }
): { id: string; versionId: string; analyzerWrite: boolean } | string {
  if (path.resourceType !== undefined && path.resourceType !== 'Observation') {
    return `Only Observation deliveries are accepted, not ${path.resourceType}.`;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return 'The body must be a FHIR Observation in JSON.';
  }

  const resource = body as Partial<Resource>;
  if (resource.resourceType !== 'Observation') {
    return `Expected resourceType Observation, got ${String(resource.resourceType)}.`;
  }
  const observation = resource as Observation;
  if (typeof observation.id !== 'string' || observation.id === '') {
    return 'The Observation has no id.';
  }
  if (path.id !== undefined && path.id !== observation.id) {
    return `The Observation id ${observation.id} does not match the URL id ${path.id}.`;
  }
  const versionId = observation.meta?.versionId;
  if (typeof versionId !== 'string' || versionId === '') {
    return `Observation/${observation.id} has no meta.versionId.`;
  }
  if (!hasAiLabel(observation.meta)) {
    return `Observation/${observation.id} has no AIAST security label, so it is not an AI result.`;
  }
  return { id: observation.id, versionId, analyzerWrite: isAnalyzerWrite(observation.meta) };
}

function isEmptyBody(body: unknown): boolean {
  return body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0);
}

function reject(res: Response, deps: HookDependencies, reason: string, outcome: HttpOutcome): void {
  deps.metrics.rejectedDeliveries.inc({ reason });
  sendOutcome(res, outcome);
}

/**
 * Sends an OperationOutcome with its HTTP status.
 * @param res - The express response.
 * @param outcome - Status and OperationOutcome.
 */
export function sendOutcome(res: Response, outcome: HttpOutcome): void {
  sendFhir(res, outcome.status, outcome.outcome);
}

/**
 * Sends a FHIR resource as `application/fhir+json`.
 * @param res - The express response.
 * @param status - HTTP status.
 * @param resource - The resource to send.
 */
export function sendFhir(res: Response, status: number, resource: Resource): void {
  res.status(status).type('application/fhir+json').send(JSON.stringify(resource));
}
