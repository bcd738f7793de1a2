/**
 * The oidc-provider configuration of the SMART authorization server. It registers one public client (the
 * SMART app) with PKCE S256 and issues refresh tokens and JWT access tokens. A token's `aud` is the FHIR
 * endpoint named by the SMART `aud` parameter (RFC 8707 resource indicators). The token response and the
 * access token carry the SMART launch context.
 * See https://hl7.org/fhir/smart-app-launch/app-launch.html and https://github.com/panva/node-oidc-provider.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { AuthServerConfig } from './config.js';
import { TEST_USERNAME } from './fhir-directory.js';
import type { LaunchContextStore } from './launch-contexts.js';

/** OAuth endpoint paths below the issuer. */
export const ROUTES = {
  authorization: '/authorize',
  token: '/token',
  jwks: '/jwks',
  revocation: '/revoke',
  userinfo: '/userinfo',
};

/** Scopes handled by OpenID Connect and SMART launch rather than by the FHIR resource server. */
export const LAUNCH_SCOPES = [
  'openid',
  'fhirUser',
  'profile',
  'offline_access',
  'online_access',
  'launch',
  'launch/patient',
  'launch/encounter',
];

/**
 * A SMART clinical scope, v1 (`.read`, `.write`, `.*`) or v2 (`.cruds` letters in order), with an optional
 * granular query as in `patient/Observation.rs?category=laboratory`.
 */
export const CLINICAL_SCOPE_PATTERN =
  /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|c?r?u?d?s?)(\?\S*)?$/;

/** Lifetime of refresh tokens, grants and login sessions: one working shift. */
export const SESSION_TTL_S = 8 * 60 * 60;

/** Dependencies of {@link createProvider}. */
export interface ProviderDependencies {
  config: AuthServerConfig;
  /** Issuer URL; differs from `config.issuer` when listening on a free port. */
  issuer: string;
  contexts: LaunchContextStore;
  /** Returns the test user's `fhirUser` value. */
  fhirUser: () => string;
}

function clinicalScopes(scopeText: unknown): string {
  if (typeof scopeText !== 'string') {
    return '';
  }
  return scopeText
    .split(' ')
    .filter((scope) => CLINICAL_SCOPE_PATTERN.test(scope) && scope !== '')
    .join(' ');
}

function signingJwk(): Record<string, unknown> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(8).toString('hex');
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

/**
 * Creates the provider. Its signing key and cookie keys are new on every start, so tokens of an earlier
 * run are rejected by fhir-server-ext once it fetches the new JWKS.
 */
export function createProvider(deps: ProviderDependencies): Provider {
  const { config, contexts } = deps;
  const appOrigins = new Set(config.redirectUris.map((uri) => new URL(uri).origin));

  const configuration: Configuration = {
    clients: [
      {
        client_id: config.clientId,
        client_name: 'MonitorMed SMART app',
        token_endpoint_auth_method: 'none',
        application_type: 'web',
        redirect_uris: config.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
    routes: ROUTES,
    // SMART App Launch uses the authorization code flow only; no implicit or hybrid responses.
    responseTypes: ['code'],
    scopes: LAUNCH_SCOPES,
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name'] },
    // SMART apps read fhirUser from the id_token, so its claims are not held back for the userinfo endpoint.
    conformIdTokenClaims: false,
    extraParams: ['launch', 'aud'],
    pkce: { methods: ['S256'], required: () => true },
    // The browser app calls the token endpoint cross-origin; only the registered app's origins may.
    clientBasedCORS: (_ctx, origin) => appOrigins.has(origin),
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    jwks: { keys: [signingJwk()] },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // fhirclient sends SMART's `aud` (the FHIR base URL) rather than RFC 8707's `resource`.
        defaultResource: (ctx: KoaContextWithOIDC, _client, oneOf) => {
          if (oneOf !== undefined && oneOf.length > 0) {
            return oneOf;
          }
          const aud = ctx.oidc.params?.['aud'];
          if (typeof aud === 'string' && aud !== '') {
            return aud;
          }
          if (ctx.oidc.route === 'authorization') {
            throw new errors.InvalidRequest(
              `missing the aud parameter; SMART requires the FHIR base URL, one of ${config.fhirAudiences.join(', ')}`
            );
          }
          return [];
        },
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx: KoaContextWithOIDC, resource) => {
          if (!config.fhirAudiences.includes(resource)) {
            throw new errors.InvalidTarget(
              `aud ${resource} is not a FHIR endpoint of this server; use one of ${config.fhirAudiences.join(', ')}`
            );
          }
          const requested =
            ctx.oidc.params?.['scope'] ??
            ctx.oidc.entities.AuthorizationCode?.scope ??
            ctx.oidc.entities.RefreshToken?.scope;
          return {
            scope: clinicalScopes(requested),
            audience: resource,
            accessTokenTTL: config.accessTokenTtlS,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: (_ctx, token) => {
      const context = contexts.forGrant('grantId' in token ? token.grantId : undefined);
      if (context === undefined) {
        return undefined;
      }
      return {
        fhirUser: context.fhirUser,
        ...(context.patient === undefined ? {} : { patient: context.patient }),
        ...(context.encounter === undefined ? {} : { encounter: context.encounter }),
      };
    },
    // SMART defines online_access as a refresh token that ends with the login session.
    issueRefreshToken: (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') &&
      (code.scopes.has('offline_access') || code.scopes.has('online_access')),
    // Only the grant made in this authorization's own consent step counts, never an earlier one of the
    // session, because the launch context (the patient) belongs to one grant and differs between launches.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId === undefined ? undefined : ctx.oidc.provider.Grant.find(grantId);
    },
    findAccount: (_ctx, accountId) => {
      if (accountId !== TEST_USERNAME) {
        return undefined;
      }
      return {
        accountId,
        claims: () => ({ sub: accountId, fhirUser: deps.fhirUser(), name: 'Dr. Casey Clinician' }),
      };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: config.accessTokenTtlS,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      Interaction: 60 * 60,
      Grant: SESSION_TTL_S,
      Session: SESSION_TTL_S,
      RefreshToken: SESSION_TTL_S,
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Authorization failed</title></head><body><main><h1>Authorization failed</h1><p role="alert">${escapeForError(
        `${out.error}: ${out.error_description ?? ''}`
      )}</p><p>Launch the app again from the EHR.</p></main></body></html>`;
    },
  };

  const provider = new Provider(deps.issuer, configuration);
  provider.use(async (ctx, next) => {
    requireConsentForOfflineAccess(ctx);
    await next();
    addSmartTokenResponse(ctx as KoaContextWithOIDC, contexts);
  });
  return provider;
}

function escapeForError(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/**
 * OpenID Connect Core section 11 lets a server grant offline_access only with `prompt=consent`, which
 * oidc-provider enforces; SMART apps never send it. This server requests consent on every authorization
 * anyway (see `loadExistingGrant`), so adding the prompt changes no screen and keeps the refresh token.
 */
function requireConsentForOfflineAccess(ctx: {
  path: string;
  method: string;
  query: Record<string, unknown>;
}): void {
  if (ctx.path !== ROUTES.authorization || ctx.method !== 'GET') {
    return;
  }
  const scope = ctx.query['scope'];
  if (
    typeof scope === 'string' &&
    scope.split(' ').includes('offline_access') &&
    ctx.query['prompt'] === undefined
  ) {
    ctx.query = { ...ctx.query, prompt: 'consent' };
  }
}

/**
 * Adds SMART's launch context to a successful token response and reports every scope granted, not only
 * the FHIR resource scopes that oidc-provider puts there; fhirclient refreshes only when it finds
 * offline_access or online_access in `scope`.
 */
function addSmartTokenResponse(ctx: KoaContextWithOIDC, contexts: LaunchContextStore): void {
  if (ctx.path !== ROUTES.token || ctx.status !== 200 || typeof ctx.body !== 'object' || ctx.body === null) {
    return;
  }
  const body = ctx.body as Record<string, unknown>;
  const entities = ctx.oidc.entities;
  const accessToken = entities.AccessToken;
  const grantedScope = entities.AuthorizationCode?.scope ?? entities.RefreshToken?.scope;
  if (typeof grantedScope === 'string' && grantedScope !== '') {
    body['scope'] = grantedScope;
  }

  const context = contexts.forGrant(accessToken?.grantId);
  if (context === undefined) {
    return;
  }
  if (context.patient !== undefined) {
    body['patient'] = context.patient;
  }
  if (context.encounter !== undefined) {
    body['encounter'] = context.encounter;
  }
  body['fhirUser'] = context.fhirUser;
  body['need_patient_banner'] = context.needPatientBanner;
  if (context.smartStyleUrl !== undefined) {
    body['smart_style_url'] = context.smartStyleUrl;
  }
}
