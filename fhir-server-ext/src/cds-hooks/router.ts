/**
 * The CDS Hooks 2.0 endpoints (https://cds-hooks.hl7.org/2.0/): public discovery at GET /cds-services, the
 * patient-view service at POST /cds-services/{id} and its feedback endpoint, both behind the client JWT.
 */
import type { AiModelDefinition, Logger } from '@monitormed/common';
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Db } from 'mongodb';
import { sendOutcome } from '../hook-router.js';
import { badRequest, notFound, unauthorized, unavailable, type HttpOutcome } from '../outcomes.js';
import { buildCards, type CardRecord, type IssuedCard } from './cards.js';
import { findCardRecords, recordFeedback, saveCardRecords, type FeedbackDocument } from './card-store.js';
import { ClientAuthError } from './client-auth-error.js';
import type { ClientVerifier, VerifiedClient } from './client-auth.js';
import { PatientDataError } from './patient-data-error.js';
import { loadPatientAiData, type FhirAccess, type PatientAiData } from './patient-data.js';
import { parseFeedbackRequest, parsePatientViewRequest } from './request.js';
import { AI_FLAGS_SERVICE, AI_FLAGS_SERVICE_ID } from './service-definition.js';
import { normalizeUrl, type CdsHooksSettings } from './settings.js';
import type { CdsCard, CdsFeedback, PatientViewRequest } from './types.js';
import type { AuditQueue } from '../proxy/audit-queue.js';
import { buildCdsAuditEvent } from './audit.js';

/** Path of the discovery endpoint. */
export const CDS_SERVICES_PATH = '/cds-services';

/** Dependencies of the CDS Hooks router. */
export interface CdsHooksDependencies {
  settings: CdsHooksSettings;
  verifier: ClientVerifier;
  /** Returns the MonitorMed database, connected at start. */
  db: () => Db;
  /** Returns the public base URL of this service, known once it listens. */
  serviceBaseUrl: () => string;
  /** FHIR server read when a request names none. */
  fhirBaseUrl: string;
  /** Page about MonitorMed shown as the card source. */
  sourceUrl: string;
  catalog: readonly AiModelDefinition[];
  /** Returns the durable AuditEvent queue, which every patient-view call writes to before it responds. */
  audit: () => Pick<AuditQueue, 'add'>;
  log: Logger;
}

/**
 * Creates the router serving {@link CDS_SERVICES_PATH}.
 * @param deps - Settings, JWT verifier, database and logger.
 */
export function createCdsHooksRouter(deps: CdsHooksDependencies): Router {
  const router = Router();

  // Browser-based CDS clients call from another origin. The JWT, not a cookie, authenticates them.
  router.use(CDS_SERVICES_PATH, (req, res, next) => {
    res.set('Access-Control-Allow-Origin', '*');
    res.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
    res.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next();
  });

  router.get(CDS_SERVICES_PATH, (_req, res) => {
    res.json({ services: [AI_FLAGS_SERVICE] });
  });

  router.post(`${CDS_SERVICES_PATH}/:serviceId`, async (req, res) => {
    const client = await authenticate(req, res, deps, []);
    if (client !== undefined) {
      await handlePatientView(req, res, deps, client);
    }
  });

  router.post(`${CDS_SERVICES_PATH}/:serviceId/feedback`, async (req, res) => {
    // The spec requires aud = the URL being called. Clients that put the service URL in aud for
    // feedback too are accepted as well.
    const client = await authenticate(req, res, deps, ['/feedback']);
    if (client !== undefined) {
      await handleFeedback(req, res, deps, client);
    }
  });

  return router;
}

/** Checks the service id and the JWT; sends the error response and returns undefined when either fails. */
async function authenticate(
  req: Request,
  res: Response,
  deps: CdsHooksDependencies,
  audienceSuffixes: string[]
): Promise<VerifiedClient | undefined> {
  const serviceId = req.params['serviceId'];
  if (serviceId !== AI_FLAGS_SERVICE_ID) {
    sendOutcome(
      res,
      notFound(`No CDS service "${String(serviceId)}"; GET ${CDS_SERVICES_PATH} lists the services.`)
    );
    return undefined;
  }

  const endpointUrl = `${normalizeUrl(deps.serviceBaseUrl())}${CDS_SERVICES_PATH}/${serviceId}`;
  const audiences = [...audienceSuffixes.map((suffix) => `${endpointUrl}${suffix}`), endpointUrl];
  try {
    return await deps.verifier.verify(req.get('authorization'), audiences);
  } catch (err) {
    if (!(err instanceof ClientAuthError)) {
      throw err;
    }
    deps.log.warn({ status: err.status, reason: err.message }, 'Rejected CDS Hooks call');
    if (err.status === 401) {
      res.set('WWW-Authenticate', 'Bearer');
      sendOutcome(res, unauthorized(err.message));
    } else {
      sendOutcome(res, unavailable(err.message));
    }
    return undefined;
  }
}

async function handlePatientView(
  req: Request,
  res: Response,
  deps: CdsHooksDependencies,
  client: VerifiedClient
): Promise<void> {
  const request = parsePatientViewRequest(req.body);
  if (typeof request === 'string') {
    sendOutcome(res, badRequest(request));
    return;
  }

  let issued: IssuedCard[];
  let data: PatientAiData;
  try {
    data = await loadPatientAiData(request, chooseFhirAccess(request, deps), deps.log);
    issued = buildCards(data, {
      serviceId: AI_FLAGS_SERVICE_ID,
      hookInstance: request.hookInstance,
      smartLaunchUrl: deps.settings.smartLaunchUrl,
      sourceUrl: deps.sourceUrl,
      catalog: deps.catalog,
    });
  } catch (err) {
    if (err instanceof PatientDataError) {
      deps.log.warn({ hookInstance: request.hookInstance, reason: err.message }, 'CDS Hooks call lacks data');
      sendOutcome(res, preconditionFailed(err.message));
      return;
    }
    throw err;
  }

  // The cards disclose the patient's results and Flags, so the call is audited before they are sent.
  try {
    const event = buildCdsAuditEvent(
      {
        client,
        patientId: request.context.patientId,
        hookInstance: request.hookInstance,
        clientAddress: req.socket.remoteAddress,
        data,
      },
      new Date()
    );
    await deps.audit().add(event);
  } catch (err) {
    deps.log.error({ err, hookInstance: request.hookInstance }, 'Audit queue unavailable; no cards sent');
    sendOutcome(
      res,
      unavailable('The audit log (Redis) is unavailable, so no patient data is released; retry later.')
    );
    return;
  }

  const cards = await attachRecords(issued, deps, request.hookInstance);
  deps.log.info(
    { hookInstance: request.hookInstance, iss: client.iss, count: cards.length },
    'Returned CDS Hooks cards'
  );
  res.json({ cards });
}

/**
 * Uses the request's fhirServer only when it is on the allow-list, so a caller cannot make the service
 * send requests (and the access token) to a host of its choosing.
 */
function chooseFhirAccess(request: PatientViewRequest, deps: CdsHooksDependencies): FhirAccess | undefined {
  const timeoutMs = deps.settings.fetchTimeoutMs;
  if (request.fhirServer === undefined) {
    return { baseUrl: normalizeUrl(deps.fhirBaseUrl), timeoutMs };
  }
  if (!deps.settings.fhirServers.includes(request.fhirServer)) {
    deps.log.warn(
      { hookInstance: request.hookInstance },
      'fhirServer is not on CDS_FHIR_SERVERS; using prefetch only'
    );
    return undefined;
  }
  return {
    baseUrl: request.fhirServer,
    timeoutMs,
    ...(request.fhirAuthorization === undefined
      ? {}
      : { accessToken: request.fhirAuthorization.access_token }),
  };
}

/**
 * Stores the card records. When that fails, the cards go out without uuids: CDS clients send no feedback
 * for a card without uuid, so no feedback arrives that could not be attributed.
 */
async function attachRecords(
  issued: IssuedCard[],
  deps: CdsHooksDependencies,
  hookInstance: string
): Promise<CdsCard[]> {
  try {
    await saveCardRecords(
      deps.db(),
      issued.map((entry) => entry.record)
    );
    return issued.map((entry) => entry.card);
  } catch (err) {
    deps.log.error(
      { err, hookInstance, count: issued.length },
      'Could not store card records; cards sent without uuids'
    );
    return issued.map(({ card }) => withoutUuids(card));
  }
}

function withoutUuids(card: CdsCard): CdsCard {
  const copy: CdsCard = { ...card };
  delete copy.uuid;
  if (card.suggestions !== undefined) {
    copy.suggestions = card.suggestions.map((suggestion) => {
      const suggestionCopy = { ...suggestion };
      delete suggestionCopy.uuid;
      return suggestionCopy;
    });
  }
  return copy;
}

async function handleFeedback(
  req: Request,
  res: Response,
  deps: CdsHooksDependencies,
  client: VerifiedClient
): Promise<void> {
  const items = parseFeedbackRequest(req.body);
  if (typeof items === 'string') {
    sendOutcome(res, badRequest(items));
    return;
  }

  const records = await findCardRecords(
    deps.db(),
    items.map((item) => item.card)
  );
  const unknown = items.filter((item) => records.get(item.card)?.serviceId !== AI_FLAGS_SERVICE_ID);
  if (unknown.length > 0) {
    const cards = [...new Set(unknown.map((item) => item.card))].slice(0, 5).join(', ');
    sendOutcome(
      res,
      notFound(
        `Unknown card uuid(s) ${cards}: feedback must name cards this service returned. Nothing was stored.`
      )
    );
    return;
  }

  const documents: FeedbackDocument[] = [];
  for (const item of items) {
    const record = records.get(item.card) as CardRecord;
    const wrongSuggestion = (item.acceptedSuggestions ?? []).find(
      (suggestion) => suggestion.id !== record.suggestionUuid
    );
    if (wrongSuggestion !== undefined) {
      sendOutcome(
        res,
        badRequest(`Card ${item.card} has no suggestion ${wrongSuggestion.id}. Nothing was stored.`)
      );
      return;
    }
    documents.push(toFeedbackDocument(item, record, client));
  }

  const result = await recordFeedback(deps.db(), documents);
  deps.log.info({ iss: client.iss, count: items.length, ...result }, 'Recorded CDS Hooks feedback');
  res.json(result);
}

function toFeedbackDocument(item: CdsFeedback, record: CardRecord, client: VerifiedClient): FeedbackDocument {
  const outcomeTime = new Date(item.outcomeTimestamp);
  return {
    _id: `${item.card}|${item.outcome}`,
    card: item.card,
    outcome: item.outcome,
    serviceId: record.serviceId,
    modelId: record.modelId,
    observationId: record.observationId,
    flagIds: record.flagIds,
    acceptedSuggestions: (item.acceptedSuggestions ?? []).map((suggestion) => suggestion.id),
    overrideReason: item.overrideReason?.reason ?? null,
    userComment: item.overrideReason?.userComment ?? null,
    outcomeTimestamp: outcomeTime,
    day: outcomeTime.toISOString().slice(0, 10),
    receivedAt: new Date(),
    clientIss: client.iss,
  };
}

function preconditionFailed(text: string): HttpOutcome {
  return {
    status: 412,
    outcome: {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'incomplete', details: { text } }],
    },
  };
}

/**
 * Converts a failed database call in a CDS route into a 503, so that the client retries later.
 * @param log - Logger for the failure.
 */
export function cdsErrorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (!req.path.startsWith(CDS_SERVICES_PATH) || res.headersSent) {
      next(err);
      return;
    }
    const isMongo = (err as { name?: string } | undefined)?.name?.startsWith('Mongo') === true;
    if (!isMongo) {
      next(err);
      return;
    }
    log.error({ err, path: req.path }, 'CDS Hooks request failed on MongoDB');
    sendOutcome(
      res,
      unavailable('The MonitorMed database is unavailable; retry later. Repeated feedback is counted once.')
    );
  };
}
