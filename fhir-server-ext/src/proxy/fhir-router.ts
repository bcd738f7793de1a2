/**
 * The secured FHIR R4 endpoint at {@link FHIR_PATH}: public `metadata` and
 * `.well-known/smart-configuration`, and every other request checked against a SMART bearer token and
 * then proxied to the FHIR server.
 */
import type { CapabilityStatement } from '@medplum/fhirtypes';
import cors from 'cors';
import express, { Router, type Request, type Response } from 'express';
import { IssuerUnavailableError } from '../auth/issuer-unavailable-error.js';
import type { IssuerMetadata } from '../auth/smart-config.js';
import { TokenError } from '../auth/token-error.js';
import { sendFhir } from '../hook-router.js';
import { TimeoutError } from '../timeout-error.js';
import { BundleEntryError } from './bundle-entry-error.js';
import { handleBundle } from './bundle-handler.js';
import {
  adjustCapabilityStatement,
  buildSmartConfiguration,
  loadOperationDefinitions,
} from './capability.js';
import type { ProxyDependencies, ProxyRequest } from './context.js';
import { ForbiddenError } from './forbidden-error.js';
import { classifyRequest, isWrite } from './interaction.js';
import { InvalidRequestError } from './invalid-request-error.js';
import {
  handleHistory,
  handleInstanceRead,
  handleOperation,
  handlePage,
  handleSearch,
} from './read-handlers.js';
import { sendUpstreamJson } from './upstream.js';
import { UpstreamError } from './upstream-error.js';
import { handleWrite } from './write-handlers.js';

/** Mount path of the FHIR endpoint below the server root. */
export const FHIR_PATH = '/fhir';

type IssueCode = 'login' | 'forbidden' | 'invalid' | 'not-supported' | 'transient' | 'timeout' | 'exception';

function sendIssue(res: Response, status: number, code: IssueCode, text: string): void {
  sendFhir(res, status, {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, details: { text } }],
  });
}

/**
 * Creates the router of the FHIR endpoint; mount it with `app.use(FHIR_PATH, router)`.
 * Bodies other than JSON (form-encoded searches, JSON Patch) are read as bytes, up to 5 MB.
 */
export function createFhirRouter(deps: ProxyDependencies): Router {
  const router = Router();
  // SMART apps run in the browser on another origin, so they need CORS for the token header and for
  // reading Location and ETag. Bearer tokens need no cookies, so credentials stay off.
  router.use(
    cors({
      origin: deps.allowedOrigins,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: [
        'Authorization',
        'Content-Type',
        'Accept',
        'If-Match',
        'If-None-Match',
        'If-None-Exist',
        'If-Modified-Since',
        'Prefer',
      ],
      exposedHeaders: ['Location', 'ETag', 'Last-Modified', 'Content-Location', 'WWW-Authenticate'],
      maxAge: 600,
    })
  );
  router.use(express.raw({ type: () => true, limit: '5mb' }));
  const capabilityCache: CapabilityCache = { statement: undefined, fetchedAtMs: 0 };

  router.get('/metadata', async (_req, res) => {
    await respond(res, deps, async () => {
      await sendCapabilityStatement(res, deps, capabilityCache);
    });
  });

  router.get('/.well-known/smart-configuration', async (_req, res) => {
    await respond(res, deps, async () => {
      if (deps.smart.issuer === undefined) {
        sendIssue(res, 503, 'not-supported', 'No authorization server is configured; set SMART_ISSUER.');
        return;
      }
      const issuer = await deps.verifier.issuerMetadata();
      res.type('application/json').json(buildSmartConfiguration(deps.smart, issuer));
    });
  });

  router.use(async (req, res) => {
    await respond(res, deps, async () => {
      await handleProxied(req, res, deps);
    });
  });

  return router;
}

async function handleProxied(req: Request, res: Response, deps: ProxyDependencies): Promise<void> {
  const queryStart = req.originalUrl.indexOf('?');
  const query = queryStart < 0 ? '' : req.originalUrl.slice(queryStart + 1);
  const format = new URLSearchParams(query).get('_format');
  if ((format !== null && !/json/.test(format)) || /xml/.test(req.get('accept') ?? '')) {
    // Scope filtering, audit and base rewriting all read the body, which this proxy does in JSON only.
    sendIssue(
      res,
      406,
      'not-supported',
      'This endpoint returns FHIR JSON only; request application/fhir+json.'
    );
    return;
  }

  const token = await deps.verifier.verify(req.get('authorization'));
  const path = req.path.replace(/^\/+|\/+$/g, '');
  const interaction = classifyRequest(req.method, path, query !== '');
  if (typeof interaction === 'string') {
    throw new InvalidRequestError(interaction);
  }

  const request: ProxyRequest = { deps, target: deps.target(), req, res, token, interaction, path, query };
  if (isWrite(interaction.kind)) {
    await handleWrite(request);
    return;
  }
  switch (interaction.kind) {
    case 'read':
    case 'vread':
    case 'history-instance':
      await handleInstanceRead(request);
      return;
    case 'search-type':
    case 'search-system':
      await handleSearch(request);
      return;
    case 'history-type':
    case 'history-system':
      await handleHistory(request);
      return;
    case 'page':
      await handlePage(request);
      return;
    case 'operation':
      await handleOperation(request);
      return;
    case 'transaction':
      await handleBundle(request);
      return;
    default:
      throw new InvalidRequestError(`${interaction.kind} is not supported.`);
  }
}

/** Sends one OperationOutcome with an issue per rejected Bundle entry, each naming its entry. */
function sendRejectedEntries(res: Response, err: BundleEntryError): void {
  if (err.status === 403) {
    res.set('WWW-Authenticate', 'Bearer realm="fhir", error="insufficient_scope"');
  }
  sendFhir(res, err.status, {
    resourceType: 'OperationOutcome',
    issue: err.entries.map((entry) => ({
      severity: 'error',
      code: entry.status === 403 ? 'forbidden' : 'invalid',
      details: { text: entry.message },
      expression: [`Bundle.entry[${entry.index}]`],
    })),
  });
}

/** Runs a handler and turns its errors into OperationOutcomes with the matching status. */
async function respond(res: Response, deps: ProxyDependencies, handler: () => Promise<void>): Promise<void> {
  try {
    await handler();
  } catch (err) {
    if (res.headersSent) {
      deps.log.error({ err }, 'FHIR proxy request failed after the response started');
      res.destroy();
      return;
    }
    if (err instanceof TokenError) {
      res.set(
        'WWW-Authenticate',
        `Bearer realm="fhir", error="invalid_token", error_description="${err.message.replace(/"/g, "'")}"`
      );
      sendIssue(res, 401, 'login', err.message);
      return;
    }
    if (err instanceof ForbiddenError) {
      res.set('WWW-Authenticate', 'Bearer realm="fhir", error="insufficient_scope"');
      sendIssue(res, 403, 'forbidden', err.message);
      return;
    }
    if (err instanceof InvalidRequestError) {
      sendIssue(res, 400, 'invalid', err.message);
      return;
    }
    if (err instanceof BundleEntryError) {
      sendRejectedEntries(res, err);
      return;
    }
    if (err instanceof UpstreamError) {
      deps.log.error({ err }, 'FHIR server unavailable');
      sendIssue(res, err.status, err.status === 504 ? 'timeout' : 'transient', err.message);
      return;
    }
    if (err instanceof IssuerUnavailableError) {
      deps.log.error({ err }, 'Authorization server unavailable');
      sendIssue(res, 503, 'transient', err.message);
      return;
    }
    if (err instanceof TimeoutError) {
      deps.log.error({ err }, 'Audit queue unavailable; the data was not sent');
      sendIssue(
        res,
        503,
        'transient',
        'The audit log (Redis) is unavailable, so no patient data is released; retry later.'
      );
      return;
    }
    deps.log.error({ err }, 'FHIR proxy request failed');
    sendIssue(res, 500, 'exception', 'The request failed; see the fhir-server-ext log.');
  }
}

/** The FHIR server's last CapabilityStatement and when it was fetched. */
interface CapabilityCache {
  statement: CapabilityStatement | undefined;
  fetchedAtMs: number;
}

/** The FHIR server's CapabilityStatement changes only when its configuration does, so it is kept for 5 minutes. */
const CAPABILITY_CACHE_MS = 5 * 60_000;

async function sendCapabilityStatement(
  res: Response,
  deps: ProxyDependencies,
  cache: CapabilityCache
): Promise<void> {
  const target = deps.target();
  let upstream = cache.statement;
  if (upstream === undefined || Date.now() - cache.fetchedAtMs > CAPABILITY_CACHE_MS) {
    const { response, resource } = await sendUpstreamJson(target, {
      method: 'GET',
      pathAndQuery: 'metadata',
    });
    if (!response.ok || resource?.resourceType !== 'CapabilityStatement') {
      throw new UpstreamError(
        502,
        `GET ${target.fhirBaseUrl}/metadata returned HTTP ${response.status}, not a CapabilityStatement.`
      );
    }
    upstream = resource;
    cache.statement = upstream;
    cache.fetchedAtMs = Date.now();
  }

  let issuer: IssuerMetadata | undefined;
  try {
    issuer = await deps.verifier.issuerMetadata();
  } catch (err) {
    // The statement is still useful without the OAuth URLs; smart-configuration reports the failure.
    deps.log.warn({ err }, 'CapabilityStatement sent without oauth-uris');
  }
  const statement = adjustCapabilityStatement(upstream, {
    publicBaseUrl: target.publicBaseUrl,
    issuer,
    smart: deps.smart,
    operations: await loadOperationDefinitions(deps.operationDefinitionsDir),
  });
  sendFhir(res, 200, statement);
}
