/**
 * Shared parts of the proxy's handlers: the router's dependencies, one request's token and query, and
 * the helpers that audit returned patient data and send FHIR responses.
 */
import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type { Logger } from '@monitormed/common';
import type { Request, Response } from 'express';
import type { SmartConfig } from '../auth/smart-config.js';
import type { AccessToken, TokenVerifier } from '../auth/token-verifier.js';
import type { AuditQueue } from './audit-queue.js';
import { isCompartmentType, patientReferences } from './compartment.js';
import type { Interaction } from './interaction.js';
import { buildAuditEvent, versionedReference } from './records.js';
import {
  FORWARDED_REQUEST_HEADERS,
  FORWARDED_RESPONSE_HEADERS,
  rewriteBody,
  rewriteUrl,
  type UpstreamTarget,
} from './upstream.js';

/** Dependencies of the FHIR proxy router. */
export interface ProxyDependencies {
  /** The FHIR server and the public base; a function because the port is known only after `listen`. */
  target: () => UpstreamTarget;
  verifier: TokenVerifier;
  smart: SmartConfig;
  audit: AuditQueue;
  /** Folder with the OperationDefinition JSON files of MonitorMed's FHIR package. */
  operationDefinitionsDir: string;
  /** Browser origins allowed by CORS. */
  allowedOrigins: string[];
  log: Logger;
}

/** One authenticated request. */
export interface ProxyRequest {
  deps: ProxyDependencies;
  target: UpstreamTarget;
  req: Request;
  res: Response;
  token: AccessToken;
  interaction: Interaction;
  /** Path below the FHIR base, without a leading slash. */
  path: string;
  /** The query string without `?`, as the client sent it. */
  query: string;
}

/** Returns the client's FHIR request headers that reads, searches and operations pass on. */
export function forwardedRequestHeaders(request: Pick<ProxyRequest, 'req'>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = request.req.get(name);
    if (value !== undefined) {
      headers[name] = value;
    }
  }
  return headers;
}

/** Returns the resources of a response: a Bundle's entry resources, or the resource itself. */
export function returnedResources(resource: Resource | undefined): Resource[] {
  if (resource === undefined) {
    return [];
  }
  if (resource.resourceType !== 'Bundle') {
    return [resource];
  }
  const resources: Resource[] = [];
  for (const entry of resource.entry ?? []) {
    if (entry.resource !== undefined) {
      resources.push(...returnedResources(entry.resource));
    }
  }
  return resources;
}

/**
 * Queues the AuditEvent of a response when it returns patient data (resources of Patient-compartment
 * types). It resolves only once Redis has stored the event, so the caller sends the data afterwards.
 * @throws TimeoutError or a Redis error; the data must not be sent then.
 */
export async function auditPatientData(
  request: ProxyRequest,
  resource: Resource | undefined,
  query: string | undefined
): Promise<void> {
  const patientData = returnedResources(resource).filter((candidate) =>
    isCompartmentType(candidate.resourceType)
  );
  if (patientData.length === 0) {
    return;
  }

  const patients = new Set<string>();
  for (const candidate of patientData) {
    for (const reference of patientReferences(candidate)) {
      patients.add(reference);
    }
  }
  const event = buildAuditEvent(
    {
      id: randomUUID(),
      kind: request.interaction.kind,
      token: request.token,
      clientAddress: request.req.socket.remoteAddress,
      patients: [...patients],
      resources: patientData
        .filter((candidate) => candidate.resourceType !== 'Patient')
        .map(versionedReference),
      query,
    },
    new Date()
  );
  await request.deps.audit.add(event);
  request.deps.log.info(
    {
      auditEventId: event.id,
      interaction: request.interaction.kind,
      resourceType: request.interaction.resourceType,
      count: patientData.length,
    },
    'Queued AuditEvent for a read of patient data'
  );
}

/** Copies the FHIR headers of an upstream response, with the FHIR server's base rewritten. */
export function setForwardedHeaders(
  request: Pick<ProxyRequest, 'res' | 'target'>,
  headers: Headers | Record<string, string>
): void {
  const { res, target } = request;
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const value = headers instanceof Headers ? headers.get(name) : headers[name];
    if (value === null || value === undefined) {
      continue;
    }
    if (name === 'location' || name === 'content-location') {
      // Locations from a transaction response are relative to the FHIR server's base.
      const absolute = /^[a-z]+:/i.test(value) ? value : `${target.fhirBaseUrl}/${value}`;
      res.set(name, rewriteUrl(absolute, target));
    } else {
      res.set(name, value);
    }
  }
}

/**
 * Sends a FHIR response: status, the forwarded FHIR headers, and the body with its Bundle URLs rewritten.
 */
export function sendProxied(
  request: Pick<ProxyRequest, 'res' | 'target'>,
  status: number,
  headers: Headers | Record<string, string>,
  resource: Resource | undefined
): void {
  const { res, target } = request;
  setForwardedHeaders(request, headers);
  res.status(status);
  if (resource === undefined) {
    res.end();
    return;
  }
  rewriteBody(resource, target);
  res.type('application/fhir+json').send(JSON.stringify(resource));
}
