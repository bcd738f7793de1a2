/**
 * Verifies the JWT a CDS client sends with every call, as CDS Hooks 2.0 requires
 * (https://cds-hooks.hl7.org/2.0/#trusting-cds-clients). The checks: an asymmetric signature that verifies
 * with the client's JWK Set, a known `iss`, `aud` equal to the URL being called, `exp`, `iat`, and a `jti`
 * not seen before.
 */
import { createHash } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type ProtectedHeaderParameters,
} from 'jose';
import { withTimeout } from '../timeout-error.js';
import { ClientAuthError } from './client-auth-error.js';
import { normalizeUrl, type CdsHooksSettings, type TrustedCdsClient } from './settings.js';

/**
 * Signature algorithms accepted. The spec forbids `none` and every symmetric (HMAC) algorithm, and
 * recommends ES384 and RS384.
 */
export const ACCEPTED_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
];

/** The Redis command the replay check needs. The ioredis client of the bull queue provides it. */
export interface JtiStore {
  set(
    key: string,
    value: string,
    expiryMode: 'PX',
    milliseconds: number,
    condition: 'NX'
  ): Promise<'OK' | null>;
}

/** A verified CDS client call. */
export interface VerifiedClient {
  iss: string;
  jti: string;
  /** Optional `tenant` claim: the healthcare organization calling. */
  tenant?: string;
}

/** Checks CDS client JWTs. */
export interface ClientVerifier {
  /**
   * Verifies the `Authorization` header of a call.
   * @param authorization - The header value.
   * @param audiences - Accepted `aud` values: the URL of the endpoint being called comes first.
   * @throws ClientAuthError naming what is wrong.
   */
  verify(authorization: string | undefined, audiences: string[]): Promise<VerifiedClient>;
}

/** Key prefix of remembered `jti` values in Redis; the key ends with the SHA-256 of iss and jti. */
export const JTI_KEY_PREFIX = 'monitormed:cds-hooks:jti:';

/**
 * Creates a verifier for the trusted clients in `settings`.
 * @param settings - Trusted clients, maximum token age, clock tolerance and fetch time limit.
 * @param jtiStore - Redis, shared by every instance so that a replay is caught whichever instance receives it.
 */
export function createClientVerifier(
  settings: Pick<
    CdsHooksSettings,
    'clients' | 'jwtMaxAgeSeconds' | 'clockToleranceSeconds' | 'fetchTimeoutMs'
  >,
  jtiStore: JtiStore
): ClientVerifier {
  // jose caches each JWK Set and fetches it again for an unknown kid, at most every 30 s.
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  const keySetFor = (url: string): ReturnType<typeof createRemoteJWKSet> => {
    let keySet = keySets.get(url);
    if (keySet === undefined) {
      keySet = createRemoteJWKSet(new URL(url), { timeoutDuration: settings.fetchTimeoutMs });
      keySets.set(url, keySet);
    }
    return keySet;
  };

  return {
    async verify(authorization, audiences) {
      const token = bearerToken(authorization);
      const header = readHeader(token);
      const client = findClient(settings.clients, readUnverifiedIssuer(token));
      const jwksUrl = chooseJwksUrl(client, header.jku);

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keySetFor(jwksUrl), {
          issuer: client.iss,
          audience: audiences,
          algorithms: ACCEPTED_ALGORITHMS,
          typ: 'JWT',
          requiredClaims: ['exp', 'iat', 'jti'],
          maxTokenAge: settings.jwtMaxAgeSeconds,
          clockTolerance: settings.clockToleranceSeconds,
        }));
      } catch (err) {
        throw describeVerificationError(err, audiences[0] ?? '', jwksUrl, settings.jwtMaxAgeSeconds);
      }

      const jti = payload.jti ?? '';
      const expiresAtMs = (payload.exp ?? 0) * 1000 + settings.clockToleranceSeconds * 1000;
      await rememberJti(jtiStore, { iss: client.iss, jti, expiresAtMs, timeoutMs: settings.fetchTimeoutMs });
      return {
        iss: client.iss,
        jti,
        ...(typeof payload['tenant'] === 'string' ? { tenant: payload['tenant'] } : {}),
      };
    },
  };
}

function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization === '') {
    throw new ClientAuthError(
      'Missing Authorization header: send "Authorization: Bearer <JWT>" signed by your CDS client key.'
    );
  }
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (match?.[1] === undefined) {
    throw new ClientAuthError('Invalid Authorization header: expected "Bearer <JWT>".');
  }
  return match[1];
}

function readHeader(token: string): ProtectedHeaderParameters {
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new ClientAuthError('Invalid bearer token: not a signed JWT (JWS compact serialization).');
  }
  if (header.alg === undefined || header.alg.toLowerCase() === 'none') {
    throw new ClientAuthError('Unsigned JWT rejected: alg "none" is not allowed; sign with ES384 or RS384.');
  }
  if (!ACCEPTED_ALGORITHMS.includes(header.alg)) {
    throw new ClientAuthError(
      `JWT alg "${header.alg}" is not allowed: use an asymmetric algorithm (${ACCEPTED_ALGORITHMS.join(', ')}).`
    );
  }
  if (token.split('.')[2] === '') {
    throw new ClientAuthError('Unsigned JWT rejected: the signature part is empty.');
  }
  return header;
}

function readUnverifiedIssuer(token: string): string {
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
  } catch {
    throw new ClientAuthError('Invalid bearer token: the JWT payload is not a JSON object.');
  }
  if (typeof payload.iss !== 'string' || payload.iss === '') {
    throw new ClientAuthError('Invalid JWT: the "iss" claim is missing.');
  }
  return payload.iss;
}

function findClient(clients: readonly TrustedCdsClient[], iss: string): TrustedCdsClient {
  const client = clients.find((candidate) => candidate.iss === iss);
  if (client === undefined) {
    throw new ClientAuthError(`Unknown JWT issuer "${iss}": register the CDS client in CDS_CLIENTS.`);
  }
  return client;
}

function chooseJwksUrl(client: TrustedCdsClient, jku: string | undefined): string {
  if (jku === undefined) {
    return client.jwksUrl;
  }
  const allowed = [client.jwksUrl, ...client.jkuUrls];
  const normalized = normalizeUrl(jku);
  if (!allowed.includes(normalized)) {
    throw new ClientAuthError(
      `JWT jku "${jku}" is not on the allow-list of issuer "${client.iss}"; add it to jkuUrls in CDS_CLIENTS.`
    );
  }
  return normalized;
}

function describeVerificationError(
  err: unknown,
  endpointUrl: string,
  jwksUrl: string,
  maxTokenAgeSeconds: number
): ClientAuthError {
  // jose reports an iat older than maxTokenAge as JWTExpired too, with claim "iat".
  if (err instanceof errors.JWTExpired && err.claim === 'iat') {
    return new ClientAuthError(`JWT "iat" is older than the maximum token age of ${maxTokenAgeSeconds} s.`);
  }
  if (err instanceof errors.JWTExpired) {
    return new ClientAuthError('JWT expired: its "exp" is in the past.');
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') {
      return new ClientAuthError(`JWT "aud" must be the endpoint URL being called: ${endpointUrl}.`);
    }
    if (err.claim === 'iat') {
      return new ClientAuthError(`JWT "iat" is missing, in the future or too old: ${err.message}.`);
    }
    return new ClientAuthError(`JWT claim "${err.claim}" is invalid: ${err.message}.`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new ClientAuthError(`JWT signature does not verify with the key set at ${jwksUrl}.`);
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return new ClientAuthError(`No key in the key set at ${jwksUrl} matches the JWT's kid and alg.`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return new ClientAuthError(`JWT alg is not allowed: use one of ${ACCEPTED_ALGORITHMS.join(', ')}.`);
  }
  if (
    err instanceof errors.JWKSTimeout ||
    !(err instanceof errors.JOSEError) ||
    err instanceof errors.JWKSInvalid
  ) {
    return new ClientAuthError(`The client's key set at ${jwksUrl} could not be loaded; retry later.`, 503);
  }
  if (err.message.includes('JSON Web Key Set')) {
    return new ClientAuthError(`The client's key set at ${jwksUrl} could not be loaded; retry later.`, 503);
  }
  return new ClientAuthError(`Invalid JWT: ${err.message}.`);
}

/**
 * Records the jti until the token expires. A second call with the same iss and jti is a replay.
 * SET NX PX is atomic, so two instances receiving the same token at once cannot both accept it.
 */
async function rememberJti(
  store: JtiStore,
  token: { iss: string; jti: string; expiresAtMs: number; timeoutMs: number }
): Promise<void> {
  const { iss, jti, expiresAtMs, timeoutMs } = token;
  // Hashed, because the client chooses the jti and its length.
  const keyHash = createHash('sha256').update(`${iss}\n${jti}`).digest('hex');
  const ttlMs = Math.max(1_000, expiresAtMs - Date.now());

  let stored: 'OK' | null;
  try {
    stored = await withTimeout(
      store.set(`${JTI_KEY_PREFIX}${keyHash}`, '1', 'PX', ttlMs, 'NX'),
      timeoutMs,
      `Redis did not respond within ${timeoutMs} ms`
    );
  } catch {
    throw new ClientAuthError('The replay check (Redis) is unavailable; retry later.', 503);
  }
  if (stored === null) {
    throw new ClientAuthError(`JWT replayed: jti "${jti}" was already used; send a new jti with every call.`);
  }
}
