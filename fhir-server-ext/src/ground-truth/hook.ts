/**
 * Rest-hook endpoint of the ground-truth Subscriptions. HAPI FHIR sends `PUT {endpoint}/{Type}/{id}` with
 * the resource; a POST with the resource is accepted too. Each resource version becomes one job, whose id
 * makes a redelivery of the same version a no-op.
 */
import type { Resource } from '@medplum/fhirtypes';
import { groundTruthJobId, hasAiLabel, type GroundTruthJob, type Logger } from '@monitormed/common';
import type { JobOptions, Queue } from 'bull';
import { Router, type Request, type Response } from 'express';
import { sendOutcome } from '../hook-router.js';
import { badRequest, informational, unauthorized, unavailable } from '../outcomes.js';
import { secretMatches } from '../secret.js';
import { SECRET_HEADER } from '../subscription.js';
import { withTimeout } from '../timeout-error.js';

/** Path of the ground-truth hook below the server root. */
export const GROUND_TRUTH_HOOK_PATH = '/ground-truth-hook';

const ACCEPTED_TYPES = new Set(['Observation', 'DiagnosticReport', 'Condition']);

/** Dependencies of the hook router. */
export interface GroundTruthHookDependencies {
  queue: Queue<GroundTruthJob>;
  secret: string;
  log: Logger;
  jobOptions: JobOptions;
  /** Time limit of one Redis call; after it the delivery gets 503 so that HAPI retries. */
  queueTimeoutMs: number;
}

/** Checks a delivered body and returns its job, or the reason it is invalid. */
export function parseDelivery(
  body: unknown,
  path: { resourceType?: string; id?: string }
): GroundTruthJob | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return 'The body must be a FHIR resource in JSON.';
  }
  const resource = body as Partial<Resource>;
  const resourceType = resource.resourceType ?? '';
  if (!ACCEPTED_TYPES.has(resourceType)) {
    return `Expected an Observation, DiagnosticReport or Condition, got ${resourceType || 'no resourceType'}.`;
  }
  if (path.resourceType !== undefined && path.resourceType !== resourceType) {
    return `The body is a ${resourceType} but the URL names ${path.resourceType}.`;
  }
  if (typeof resource.id !== 'string' || resource.id === '') {
    return `The ${resourceType} has no id.`;
  }
  if (path.id !== undefined && path.id !== resource.id) {
    return `The ${resourceType} id ${resource.id} does not match the URL id ${path.id}.`;
  }
  const versionId = resource.meta?.versionId;
  if (typeof versionId !== 'string' || versionId === '') {
    return `${resourceType}/${resource.id} has no meta.versionId.`;
  }

  const isAiResult = resourceType === 'Observation' && hasAiLabel(resource.meta);
  return {
    kind: isAiResult ? 'ai-result' : 'evidence',
    resourceType: resourceType as GroundTruthJob['resourceType'],
    id: resource.id,
    versionId,
  };
}

/**
 * Creates the router of {@link GROUND_TRUTH_HOOK_PATH}.
 * @param deps - Queue, secret, logger and job options.
 */
export function createGroundTruthHook(deps: GroundTruthHookDependencies): Router {
  const router = Router();

  router.use(GROUND_TRUTH_HOOK_PATH, (req, res, next) => {
    if (!secretMatches(req.get(SECRET_HEADER), deps.secret)) {
      deps.log.warn({ method: req.method }, 'Rejected ground-truth delivery with a missing or wrong secret');
      sendOutcome(res, unauthorized(`Missing or wrong ${SECRET_HEADER} header.`));
      return;
    }
    next();
  });

  router.put(`${GROUND_TRUTH_HOOK_PATH}/:resourceType/:id`, async (req, res) => {
    await handle(req, res, deps, { resourceType: req.params['resourceType'], id: req.params['id'] });
  });
  router.post(GROUND_TRUTH_HOOK_PATH, async (req, res) => {
    await handle(req, res, deps, {});
  });
  return router;
}

async function handle(
  req: Request,
  res: Response,
  deps: GroundTruthHookDependencies,
  path: { resourceType?: string; id?: string }
): Promise<void> {
  const job = parseDelivery(req.body, path);
  if (typeof job === 'string') {
    deps.log.warn({ reason: job }, 'Rejected invalid ground-truth delivery');
    sendOutcome(res, badRequest(job));
    return;
  }

  const jobId = groundTruthJobId(job);
  const timeoutMessage = `Redis did not respond within ${deps.queueTimeoutMs} ms`;
  try {
    // The look-up only decides the response: the job id itself makes bull drop a second add.
    const existing = await withTimeout(deps.queue.getJob(jobId), deps.queueTimeoutMs, timeoutMessage);
    if (existing !== null) {
      deps.log.info({ jobId }, 'Delivery of an already queued version; no job added');
      sendOutcome(res, informational(`${jobId} was already queued; no job was added.`));
      return;
    }
    await withTimeout(
      deps.queue.add(job, { ...deps.jobOptions, jobId }),
      deps.queueTimeoutMs,
      timeoutMessage
    );
  } catch (err) {
    deps.log.error(
      { err, jobId },
      'Failed to queue the ground-truth job; responding 503 so the server retries'
    );
    sendOutcome(res, unavailable('The ground-truth queue (Redis) is unavailable; retry later.'));
    return;
  }

  deps.log.info({ jobId, kind: job.kind }, 'Queued resource for ground-truth linking');
  sendOutcome(res, informational(`Queued ${jobId} for ground-truth linking.`));
}
