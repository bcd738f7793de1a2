/**
 * Minimal JSON-over-HTTP client for the FHIR REST API.
 *
 * It uses node:http rather than fetch because Node's built-in fetch (undici) aborts any response whose
 * headers take longer than 300 s, and a transaction of a large Synthea bundle on HAPI with H2 can take longer.
 */
import http from 'node:http';
import https from 'node:https';
import { isOperationOutcome, operationOutcomeToString } from '@medplum/core';
import { FhirHttpError } from './fhir-http-error.js';

/** Options of one FHIR request. */
export interface FhirRequestOptions {
  method: 'GET' | 'POST' | 'PUT';
  /** Path relative to the base URL, such as `Patient?_count=10` or an empty string for the system endpoint. */
  path: string;
  body?: unknown;
  /** Extra request headers, for example `If-None-Exist` or `Prefer`. */
  headers?: Record<string, string>;
  /**
   * Socket inactivity after which the request is aborted. HAPI sends nothing while it processes a
   * transaction, so this bounds the wait for the response.
   */
  timeoutMs: number;
}

/** Status and parsed JSON body of a FHIR response. */
export interface FhirResponse {
  status: number;
  body: unknown;
}

/**
 * Describes a FHIR error response body as text: the OperationOutcome issues when there are some.
 * @param body - The parsed response body.
 * @param maxLength - Length at which the text is cut.
 * @returns A one-line description.
 */
export function describeErrorBody(body: unknown, maxLength = 500): string {
  let text: string;
  if (isOperationOutcome(body)) {
    text = operationOutcomeToString(body);
  } else if (typeof body === 'string') {
    text = body;
  } else {
    text = JSON.stringify(body);
  }
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}

/**
 * Sends one request to the FHIR server and parses the JSON response.
 * @param baseUrl - FHIR base URL such as `http://127.0.0.1:8080/fhir`.
 * @param options - Method, path, body, headers and timeout.
 * @returns The status and body of any response, including 4xx and 5xx ones.
 * @throws FhirHttpError with status 0 when the server cannot be reached or the timeout expires.
 */
export function fhirRequest(baseUrl: string, options: FhirRequestOptions): Promise<FhirResponse> {
  const url = new URL(options.path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), 'utf8');
  const transport = url.protocol === 'https:' ? https : http;

  return new Promise<FhirResponse>((resolve, reject) => {
    const request = transport.request(
      url,
      {
        method: options.method,
        headers: {
          accept: 'application/fhir+json',
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/fhir+json; charset=utf-8', 'content-length': payload.length }),
          ...options.headers,
        },
        timeout: options.timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            // A proxy or servlet error page is HTML, so the raw text is kept for the error message.
          }
          resolve({ status: response.statusCode ?? 0, body });
        });
      }
    );

    request.on('timeout', () => {
      request.destroy(
        new FhirHttpError(
          `${options.method} ${url.pathname} timed out after ${String(options.timeoutMs)} ms.`,
          0
        )
      );
    });
    request.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof FhirHttpError) {
        reject(err);
        return;
      }
      const unreachable = ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH'].includes(err.code ?? '');
      reject(
        new FhirHttpError(
          `Cannot reach the FHIR server at ${baseUrl}: ${err.message}. Is it running (peers/peers.sh status)?`,
          0,
          unreachable
        )
      );
    });
    request.end(payload);
  });
}

/**
 * Sends a request and returns the body of a 2xx response.
 * @param baseUrl - FHIR base URL.
 * @param options - Method, path, body, headers and timeout.
 * @returns The parsed body.
 * @throws FhirHttpError for a non-2xx status, with the OperationOutcome text in the message.
 */
export async function fhirRequestOk(baseUrl: string, options: FhirRequestOptions): Promise<unknown> {
  const response = await fhirRequest(baseUrl, options);
  if (response.status < 200 || response.status > 299) {
    const target = options.path.split('?')[0] ?? options.path;
    throw new FhirHttpError(
      `${options.method} ${target} failed with HTTP ${String(response.status)}: ${describeErrorBody(response.body)}`,
      response.status
    );
  }
  return response.body;
}
