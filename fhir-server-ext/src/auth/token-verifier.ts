/**
 * Verifies SMART access tokens: JWTs signed by the authorization server (RFC 9068 profile), checked with
 * jose against the issuer's JWKS. The JWKS is cached and fetched again when a token names an unknown
 * `kid`, which is how key rotation reaches this service.
 */
import type { Logger } from '@monitormed/common';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { IssuerUnavailableError } from './issuer-unavailable-error.js';
import { parseScopes, type ClinicalScope } from './scopes.js';
import { fetchIssuerMetadata, type IssuerMetadata, type SmartConfig } from './smart-config.js';
import { TokenError } from './token-error.js';

/** Algorithms accepted in the JWS header; `none` and HMAC algorithms are never accepted. */
export const ALLOWED_ALGORITHMS = ['RS256', 'ES256'];

/** The verified token, reduced to what authorization and audit need. */
export interface AccessToken {
  /** `sub`: the user or client the token was issued to. */
  subject: string | undefined;
  /** `client_id` (RFC 9068), or `azp` when the server sets only that. */
  clientId: string | undefined;
  /** SMART `fhirUser`: a reference or URL of the user's Practitioner, Patient, or other resource. */
  fhirUser: string | undefined;
  /** SMART launch context `patient`: the id of the patient that `patient/` scopes are limited to. */
  patientId: string | undefined;
  scopes: ClinicalScope[];
  /** The raw `scope` claim, listed in messages. */
  scopeText: string;
}

/** Checks the `Authorization` header of one request. */
export interface TokenVerifier {
  /**
   * Verifies a bearer token.
   * @param authorization - The `Authorization` header, or undefined.
   * @throws TokenError for a missing or invalid token; IssuerUnavailableError when keys cannot be fetched.
   */
  verify(authorization: string | undefined): Promise<AccessToken>;
  /** Returns the issuer's discovery document, fetched once; undefined when no issuer is configured. */
  issuerMetadata(): Promise<IssuerMetadata | undefined>;
}

/** Options of {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  smart: SmartConfig;
  /** Returns the expected `aud`; a function because the public URL is known only after `listen`. */
  audience: () => string;
  /** Time limit of a discovery or JWKS request. */
  timeoutMs: number;
  log: Logger;
}

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const value = payload[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Creates a verifier for the configured issuer. Nothing is fetched until the first token arrives, so the
 * service starts even while the authorization server is still starting.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const { smart, log } = options;
  let metadata: Promise<IssuerMetadata> | undefined;
  let keySet: ReturnType<typeof createRemoteJWKSet> | undefined;

  const discover = (issuer: string): Promise<IssuerMetadata> => {
    metadata ??= fetchIssuerMetadata(issuer, options.timeoutMs).catch((err: unknown) => {
      // Forget the failure, so that the next request tries again.
      metadata = undefined;
      throw new IssuerUnavailableError(
        `The authorization server's discovery document could not be read: ${(err as Error).message} Check SMART_ISSUER or set SMART_JWKS_URL.`,
        { cause: err }
      );
    });
    return metadata;
  };

  const getKeySet = async (issuer: string): Promise<ReturnType<typeof createRemoteJWKSet>> => {
    if (keySet !== undefined) {
      return keySet;
    }
    const jwksUrl = smart.jwksUrl ?? (await discover(issuer)).jwks_uri;
    if (jwksUrl === undefined) {
      throw new IssuerUnavailableError(
        `The discovery document of ${issuer} has no jwks_uri; set SMART_JWKS_URL.`
      );
    }
    keySet = createRemoteJWKSet(new URL(jwksUrl), {
      timeoutDuration: options.timeoutMs,
      // jose 6 fetches the JWKS again for a token with an unknown kid, but not within cooldownDuration of the last fetch.
      cooldownDuration: smart.jwksCooldownMs,
      cacheMaxAge: 10 * 60_000,
    });
    log.info({ jwksUrl }, 'Using the authorization server JWKS');
    return keySet;
  };

  return {
    async issuerMetadata() {
      return smart.issuer === undefined ? undefined : discover(smart.issuer);
    },

    async verify(authorization) {
      if (smart.issuer === undefined) {
        throw new TokenError(
          'This server has no authorization server configured (SMART_ISSUER), so no token is accepted.'
        );
      }
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      const token = match?.[1];
      if (token === undefined) {
        throw new TokenError(
          authorization === undefined
            ? 'Missing Authorization header; send "Authorization: Bearer <access token>".'
            : 'The Authorization header is not of the form "Bearer <access token>".'
        );
      }

      const keys = await getKeySet(smart.issuer);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer: smart.issuer,
          audience: options.audience(),
          algorithms: ALLOWED_ALGORITHMS,
          clockTolerance: smart.clockToleranceS,
          requiredClaims: ['exp'],
        }));
      } catch (err) {
        throw describeVerifyError(err, smart.issuer, options.audience());
      }

      const scopeText = stringClaim(payload, 'scope') ?? '';
      return {
        subject: payload.sub,
        clientId: stringClaim(payload, 'client_id') ?? stringClaim(payload, 'azp'),
        fhirUser: stringClaim(payload, 'fhirUser'),
        patientId: stringClaim(payload, 'patient'),
        scopes: parseScopes(scopeText),
        scopeText,
      };
    },
  };
}

/** Turns a jose error into a TokenError that names the problem, or into IssuerUnavailableError for a failed key fetch. */
function describeVerifyError(err: unknown, issuer: string, audience: string): Error {
  if (err instanceof errors.JWTExpired) {
    return new TokenError('The access token has expired; request a new one.');
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'aud':
        return new TokenError(`The access token's audience (aud) is not ${audience}.`);
      case 'iss':
        return new TokenError(`The access token's issuer (iss) is not ${issuer}.`);
      case 'nbf':
        return new TokenError('The access token is not valid yet (nbf is in the future).');
      default:
        return new TokenError(`The access token's ${err.claim} claim is invalid: ${err.reason}.`);
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return new TokenError(
      `The access token's algorithm is not allowed; expected one of ${ALLOWED_ALGORITHMS.join(', ')}.`
    );
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new TokenError('The access token signature is invalid.');
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return new TokenError("No key of the authorization server's JWKS matches the access token's kid.");
  }
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err instanceof TypeError) {
    // jose lets fetch's TypeError through when the JWKS URL is unreachable.
    return new IssuerUnavailableError(
      `The authorization server's JWKS could not be fetched: ${err.message}`,
      {
        cause: err,
      }
    );
  }
  if (err instanceof errors.JOSEError) {
    return new TokenError(`The access token is not a valid signed JWT (${err.code}).`);
  }
  return err instanceof Error ? err : new Error(String(err));
}
