/**
 * Routes MonitorMed's FHIR operations on the secured FHIR endpoint: `Device/{id}/$monitoring-summary`,
 * `$drift` and `$compliance-report`, `Observation/{id}/$explain-flag` and `Flag/{id}/$respond`, invoked with GET or POST
 * (https://hl7.org/fhir/R4/operations.html). Mount it at the FHIR path before the proxy, which handles
 * every other request. Each call is checked against the bearer token's SMART scopes.
 */
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { loadAnalyzerSettings } from '@monitormed/analyzers';
import { connectMongo, type Logger, type MongoHandle, type MonitorMedConfig } from '@monitormed/common';
import cors from 'cors';
import { Router, type NextFunction, type Request, type Response } from 'express';
import { MongoError } from 'mongodb';
import { TokenError } from '../auth/token-error.js';
import type { AccessToken, TokenVerifier } from '../auth/token-verifier.js';
import { sendFhir, sendOutcome } from '../hook-router.js';
import { badRequest, notFound, serverError, unavailable } from '../outcomes.js';
import { mayShow, readOutsideScope, requireGrants } from '../proxy/access.js';
import type { AuditQueue } from '../proxy/audit-queue.js';
import { ForbiddenError } from '../proxy/forbidden-error.js';
import { buildAuditEvent } from '../proxy/records.js';
import { UpstreamError } from '../proxy/upstream-error.js';
import { TimeoutError } from '../timeout-error.js';
import { COMPLIANCE_REPORT_INPUTS, complianceReport } from './compliance-report.js';
import { DRIFT_INPUTS, driftReport } from './drift.js';
import { explainFlags, readAiResult } from './explain-flag.js';
import type { FhirTarget } from './fhir-reads.js';
import { MONITORING_SUMMARY_INPUTS, monitoringSummary } from './monitoring-summary.js';
import { OperationInputError } from './operation-input-error.js';
import { OperationNotFoundError } from './operation-not-found-error.js';
import { readInputs } from './parameters.js';
import { FlagConflictError } from './flag-conflict-error.js';
import { readResponseInput, respondToFlag } from './respond-flag.js';
import type { StatusThresholds } from './metric-status.js';

/** Dependencies of {@link createOperationsRouter}. */
export interface OperationsOptions {
  config: MonitorMedConfig;
  verifier: TokenVerifier;
  /** Queue of the AuditEvents of reads of patient data ($explain-flag returns Flags on a patient). */
  audit: AuditQueue;
  /** Time limit of one request to the FHIR server; defaults to 30 000 ms. */
  timeoutMs?: number;
  /** Browser origins allowed by CORS, as on the proxy; the proxy handles preflight requests. */
  allowedOrigins: string[];
  /** Thresholds in force; defaults to the analyzers' settings from the environment. */
  thresholds?: StatusThresholds;
  log: Logger;
}

/** The operations router and the cleanup of its MongoDB connection. */
export interface Operations {
  router: Router;
  /** Closes the MongoDB connection if one was opened; safe to call twice. */
  close(): Promise<void>;
}

const OPERATION_PATH = /^\/(Device|Observation|Flag)\/([A-Za-z0-9\-.]{1,64})\/\$([a-z-]+)\/?$/;

type Handler = (call: OperationCall) => Promise<Resource>;

interface OperationCall {
  req: Request;
  token: AccessToken;
  id: string;
}

/** Creates the router; MongoDB is connected at the first call that needs it. */
export function createOperationsRouter(options: OperationsOptions): Operations {
  const target: FhirTarget = {
    fhirBaseUrl: options.config.fhirBaseUrl,
    timeoutMs: options.timeoutMs ?? 30_000,
  };
  const settings = options.thresholds ?? loadAnalyzerSettings();
  const thresholds: StatusThresholds = {
    uncertaintyThresholdBits: settings.uncertaintyThresholdBits,
    uncertaintyMarginWidth: settings.uncertaintyMarginWidth,
    driftPThreshold: settings.driftPThreshold,
  };

  let mongo: Promise<MongoHandle> | undefined;
  const database = async (): Promise<MongoHandle['db']> => {
    mongo ??= connectMongo(options.config, 5_000).catch((err: unknown) => {
      // Forget the failed attempt, so the next call connects again.
      mongo = undefined;
      throw err;
    });
    return (await mongo).db;
  };

  const handlers: Record<string, Record<string, Handler>> = {
    Device: {
      'monitoring-summary': async ({ req, token, id }) => {
        requireGrants(token, 'Device', 'r');
        return monitoringSummary(
          target,
          await database(),
          id,
          readInputs(req, MONITORING_SUMMARY_INPUTS),
          thresholds
        );
      },
      drift: async ({ req, token, id }) => {
        requireGrants(token, 'Device', 'r');
        return driftReport(target, await database(), id, readInputs(req, DRIFT_INPUTS));
      },
      // NOTE: R4 requires POST when an operation changes state (this one stores a report), but GET is
      // still accepted, for clients written before the SMART app's compliance view switched to POST.
      'compliance-report': async ({ req, token, id }) => {
        requireGrants(token, 'Device', 'r');
        // The report is stored with a conditional update, which creates or replaces it.
        requireGrants(token, 'DiagnosticReport', 'c');
        requireGrants(token, 'DiagnosticReport', 'u');
        return complianceReport(
          target,
          await database(),
          id,
          readInputs(req, COMPLIANCE_REPORT_INPUTS),
          thresholds
        );
      },
    },
    Observation: {
      'explain-flag': async ({ req, token, id }) => {
        requireGrants(token, 'Observation', 'r');
        requireGrants(token, 'Flag', 'r');
        readInputs(req, []);
        const observation = await readAiResult(target, id);
        if (!mayShow(token, observation, false)) {
          throw readOutsideScope(token, 'Observation', id);
        }
        const { parameters, flags } = await explainFlags(target, await database(), observation, thresholds);

        // The response contains the patient's result and Flags, so it is audited before it is sent.
        const patient = observation.subject?.reference;
        await options.audit.add(
          buildAuditEvent(
            {
              id: randomUUID(),
              kind: 'operation',
              token,
              clientAddress: req.socket.remoteAddress,
              patients: patient === undefined ? [] : [patient],
              resources: [`Observation/${id}`, ...flags.map((flag) => `Flag/${flag.id ?? ''}`)],
              query: undefined,
            },
            new Date()
          )
        );
        return parameters;
      },
    },
    Flag: {
      respond: async ({ req, token, id }) => {
        requireGrants(token, 'Flag', 'r');
        requireGrants(token, 'Flag', 'u');
        const input = readResponseInput(req);
        const { parameters, patient } = await respondToFlag(
          target,
          await database(),
          token,
          id,
          input,
          new Date()
        );

        // The response names the patient's Flag and the clinician, so it is audited before it is sent.
        await options.audit.add(
          buildAuditEvent(
            {
              id: randomUUID(),
              kind: 'operation',
              token,
              clientAddress: req.socket.remoteAddress,
              patients: patient === undefined ? [] : [patient],
              resources: [`Flag/${id}`],
              query: undefined,
            },
            new Date()
          )
        );
        return parameters;
      },
    },
  };

  // SMART apps call the operations from the browser, so responses carry the same CORS headers as the proxy's.
  const allowCors = cors({
    origin: options.allowedOrigins,
    methods: ['GET', 'POST'],
    exposedHeaders: ['WWW-Authenticate'],
  });

  const router = Router();
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const match = OPERATION_PATH.exec(req.path);
    const handler = match === null ? undefined : handlers[match[1] ?? '']?.[match[3] ?? ''];
    if (match === null || handler === undefined || (req.method !== 'GET' && req.method !== 'POST')) {
      next();
      return;
    }
    const operation = `${match[1] ?? ''}/$${match[3] ?? ''}`;
    await new Promise<void>((resolve) => {
      allowCors(req, res, () => {
        resolve();
      });
    });
    try {
      const token = await options.verifier.verify(req.get('authorization'));
      const resource = await handler({ req, token, id: match[2] ?? '' });
      options.log.info({ operation, id: match[2] }, 'Operation completed');
      sendFhir(res, 200, resource);
    } catch (err) {
      sendError(res, err, operation, options.log);
    }
  });

  return {
    router,
    async close() {
      const pending = mongo;
      mongo = undefined;
      if (pending !== undefined) {
        await (await pending.catch(() => undefined))?.client.close();
      }
    },
  };
}

function sendError(res: Response, err: unknown, operation: string, log: Logger): void {
  if (err instanceof TokenError) {
    res.set(
      'WWW-Authenticate',
      `Bearer realm="fhir", error="invalid_token", error_description="${err.message.replace(/"/g, "'")}"`
    );
    sendFhir(res, 401, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'login', details: { text: err.message } }],
    });
    return;
  }
  if (err instanceof ForbiddenError) {
    res.set('WWW-Authenticate', 'Bearer realm="fhir", error="insufficient_scope"');
    sendFhir(res, 403, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'forbidden', details: { text: err.message } }],
    });
    return;
  }
  if (err instanceof OperationInputError) {
    const outcome = badRequest(err.message);
    outcome.outcome.issue = outcome.outcome.issue.map((issue) => ({ ...issue, expression: [err.parameter] }));
    sendOutcome(res, outcome);
    return;
  }
  if (err instanceof FlagConflictError) {
    sendFhir(res, 409, {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'conflict', details: { text: err.message } }],
    });
    return;
  }
  if (err instanceof OperationNotFoundError) {
    sendOutcome(res, notFound(err.message));
    return;
  }
  if (err instanceof UpstreamError) {
    log.error({ err, operation }, 'FHIR server failed during an operation');
    sendFhir(res, err.status, {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: err.status === 504 ? 'timeout' : 'transient',
          details: { text: err.message },
        },
      ],
    });
    return;
  }
  if (err instanceof TimeoutError) {
    log.error({ err, operation }, 'Audit queue unavailable; the operation result was not sent');
    sendOutcome(
      res,
      unavailable('The audit log (Redis) is unavailable, so no patient data is released; retry later.')
    );
    return;
  }
  if (err instanceof MongoError) {
    log.error({ err, operation }, 'MongoDB failed during an operation');
    sendOutcome(res, unavailable('The evaluation store (MongoDB) is unavailable; retry later.'));
    return;
  }
  log.error({ err, operation }, 'Operation failed');
  sendOutcome(res, serverError('The operation failed; see the fhir-server-ext log.'));
}
