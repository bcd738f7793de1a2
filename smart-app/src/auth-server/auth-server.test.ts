/**
 * The SMART authorization server over HTTP, without a browser: the authorization code flow with PKCE
 * through the real login and consent pages, the token response's launch context, the signed JWT access
 * token, refresh, and the checks that reject bad requests. It writes one Patient to HAPI FHIR.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes, verify, type JsonWebKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Patient } from '@medplum/fhirtypes';
import { createLogger } from '@monitormed/common';
import { assertHapiReachable, createResource, deleteCreated, runId } from '../test-support.js';
import { DEFAULT_TEST_USER_PASSWORD } from './config.js';
import { TEST_USERNAME } from './fhir-directory.js';
import { startAuthServer, type RunningAuthServer } from './server.js';

// Nothing listens at the app URLs: the test reads the redirect's Location instead of following it.
const APP_ORIGIN = 'http://127.0.0.1:1';
const REDIRECT_URI = `${APP_ORIGIN}/index.html`;
const FHIR_AUDIENCE = `${APP_ORIGIN}/fhir`;
const CLIENT_ID = 'monitormed-smart-app';
const ACCESS_TOKEN_TTL_S = 120;
const EHR_SCOPE =
  'launch openid fhirUser offline_access patient/Observation.rs patient/Flag.rs user/Device.rs';

/** Cookies by name; oidc-provider scopes some to a path, which this test does not need to honour. */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const separator = pair?.indexOf('=') ?? -1;
      if (pair !== undefined && separator > 0) {
        this.cookies.set(pair.slice(0, separator), pair.slice(separator + 1));
      }
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

interface Pkce {
  verifier: string;
  challenge: string;
}

function newPkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

type TokenResponse = Record<string, unknown> & {
  access_token: string;
  refresh_token?: string;
  scope?: string;
};

function decodeJwtPart(token: string, index: 0 | 1): Record<string, unknown> {
  const part = token.split('.')[index];
  assert.ok(part, 'The token is not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

void describe('SMART authorization server', () => {
  let server: RunningAuthServer | undefined;
  let setupError: unknown;
  let patientId = '';
  const patientFamily = `Authtest${runId.replace(/[^a-z0-9]/gi, '')}`;

  const auth = (): RunningAuthServer => {
    if (server === undefined) {
      throw setupError instanceof Error ? setupError : new Error(`Test setup failed: ${String(setupError)}`);
    }
    return server;
  };

  before(async () => {
    try {
      await assertHapiReachable();
      const patient = await createResource<Patient>({
        resourceType: 'Patient',
        name: [{ family: patientFamily }],
      });
      patientId = patient.id;
      server = await startAuthServer({
        port: 0,
        config: {
          clientId: CLIENT_ID,
          redirectUris: [REDIRECT_URI],
          launchUrl: `${APP_ORIGIN}/launch.html`,
          fhirAudiences: [FHIR_AUDIENCE],
          accessTokenTtlS: ACCESS_TOKEN_TTL_S,
        },
        logger: createLogger('auth-server-test', 'silent'),
      });
    } catch (error) {
      setupError = error;
    }
  });

  after(async () => {
    await server?.close();
    await deleteCreated();
  });

  function authorizeUrl(params: Record<string, string>): string {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      state: randomBytes(8).toString('hex'),
      aud: FHIR_AUDIENCE,
      ...params,
    });
    return `${auth().issuer}/authorize?${query.toString()}`;
  }

  /**
   * Follows redirects within the authorization server, submitting the login form and then the consent
   * form, until the server redirects to the app.
   * @returns The redirect URI with its query, or the last page when it stops at one.
   */
  async function runInteraction(
    startUrl: string,
    consent: Record<string, string> = {},
    password = DEFAULT_TEST_USER_PASSWORD,
    patientName?: string
  ): Promise<{ redirect?: URL; page?: Response }> {
    const jar = new CookieJar();
    let searched = false;
    let url = startUrl;
    let form: Record<string, string> | undefined;
    for (let step = 0; step < 12; step += 1) {
      const response = await fetch(url, {
        method: form === undefined ? 'GET' : 'POST',
        redirect: 'manual',
        headers: {
          cookie: jar.header(),
          ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
        },
        ...(form === undefined ? {} : { body: new URLSearchParams(form).toString() }),
      });
      jar.store(response);
      form = undefined;

      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        const next = new URL(location, url);
        if (next.href.startsWith(REDIRECT_URI)) {
          return { redirect: next };
        }
        url = next.href;
        continue;
      }
      if (response.status !== 200) {
        return { page: response };
      }

      const html = await response.clone().text();
      const login = /action="(\/interaction\/[^"]+\/login)"/.exec(html);
      const confirm = /action="(\/interaction\/[^"]+\/confirm)"/.exec(html);
      const picker = /action="(\/interaction\/[^"/]+)" role="search"/.exec(html);
      if (login?.[1] !== undefined) {
        url = `${auth().issuer}${login[1]}`;
        form = { username: TEST_USERNAME, password };
      } else if (confirm?.[1] !== undefined && html.includes('>Allow</button>')) {
        url = `${auth().issuer}${confirm[1]}`;
        form = consent;
      } else if (picker?.[1] !== undefined && patientName !== undefined && !searched) {
        // The standalone patient picker: search by name; the results page then offers Allow.
        url = `${auth().issuer}${picker[1]}?${new URLSearchParams({ patientName }).toString()}`;
        searched = true;
      } else {
        return { page: response };
      }
    }
    throw new Error('The authorization did not finish within 12 requests.');
  }

  async function exchangeCode(redirect: URL, pkce: Pkce): Promise<TokenResponse> {
    const code = redirect.searchParams.get('code');
    assert.ok(code, `The redirect has no code: ${redirect.search}`);
    const response = await fetch(`${auth().issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        code_verifier: pkce.verifier,
        client_id: CLIENT_ID,
        redirect_uri: REDIRECT_URI,
      }).toString(),
    });
    const body = (await response.json()) as TokenResponse;
    assert.equal(response.status, 200, JSON.stringify(body));
    return body;
  }

  async function ehrLaunchTokens(): Promise<TokenResponse> {
    const launchResponse = await fetch(`${auth().issuer}/ehr/launch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ patient: patientId, encounter: 'enc-1' }),
    });
    assert.equal(launchResponse.status, 201);
    const { launch, launchUrl } = (await launchResponse.json()) as { launch: string; launchUrl: string };
    assert.equal(new URL(launchUrl).searchParams.get('iss'), FHIR_AUDIENCE);

    const pkce = newPkce();
    const { redirect } = await runInteraction(
      authorizeUrl({
        scope: EHR_SCOPE,
        launch,
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
      })
    );
    assert.ok(redirect, 'The authorization ended without a redirect to the app');
    return exchangeCode(redirect, pkce);
  }

  void it('EHR launch returns SMART context', async () => {
    const tokens = await ehrLaunchTokens();
    assert.equal(tokens['patient'], patientId);
    assert.equal(tokens['encounter'], 'enc-1');
    assert.equal(tokens['need_patient_banner'], true);
    assert.equal(tokens['smart_style_url'], `${auth().issuer}/ehr/smart-style.json`);
    assert.equal(tokens['fhirUser'], auth().fhirUser);
    assert.equal(tokens['token_type'], 'Bearer');
    assert.ok(tokens.refresh_token, 'offline_access gave no refresh token');
    for (const scope of EHR_SCOPE.split(' ')) {
      assert.ok(tokens.scope?.split(' ').includes(scope), `scope ${scope} is missing from "${tokens.scope}"`);
    }

    const idToken = tokens['id_token'];
    assert.equal(typeof idToken, 'string');
    assert.equal(decodeJwtPart(idToken as string, 1)['fhirUser'], auth().fhirUser);
  });

  void it('signs a JWT access token for the aud', async () => {
    const tokens = await ehrLaunchTokens();
    const [headerPart, payloadPart, signaturePart] = tokens.access_token.split('.');
    assert.ok(headerPart !== undefined, 'The access token has no header');
    assert.ok(payloadPart !== undefined, 'The access token has no payload');
    assert.ok(signaturePart !== undefined, 'The access token has no signature');

    const header = decodeJwtPart(tokens.access_token, 0);
    assert.equal(header['alg'], 'RS256');
    const jwks = (await (await fetch(`${auth().issuer}/jwks`)).json()) as {
      keys: (JsonWebKey & { kid: string })[];
    };
    const jwk = jwks.keys.find((key) => key.kid === header['kid']);
    assert.ok(jwk, `No JWKS key has kid ${String(header['kid'])}`);
    const valid = verify(
      'RSA-SHA256',
      Buffer.from(`${headerPart}.${payloadPart}`),
      createPublicKey({ key: jwk, format: 'jwk' }),
      Buffer.from(signaturePart, 'base64url')
    );
    assert.ok(valid, 'The access token signature does not verify with the JWKS key');

    const claims = decodeJwtPart(tokens.access_token, 1);
    assert.equal(claims['iss'], auth().issuer);
    assert.equal(claims['aud'], FHIR_AUDIENCE);
    assert.equal(claims['client_id'], CLIENT_ID);
    assert.equal(claims['patient'], patientId);
    assert.equal(claims['fhirUser'], auth().fhirUser);
    assert.equal(claims['scope'], 'patient/Observation.rs patient/Flag.rs user/Device.rs');
    assert.equal(Number(claims['exp']) - Number(claims['iat']), ACCESS_TOKEN_TTL_S);
  });

  void it('refresh keeps the launch context', async () => {
    const tokens = await ehrLaunchTokens();
    assert.ok(tokens.refresh_token);
    const response = await fetch(`${auth().issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: CLIENT_ID,
      }).toString(),
    });
    const refreshed = (await response.json()) as TokenResponse;
    assert.equal(response.status, 200, JSON.stringify(refreshed));
    assert.notEqual(refreshed.access_token, tokens.access_token);
    assert.equal(refreshed['patient'], patientId);
    assert.equal(decodeJwtPart(refreshed.access_token, 1)['patient'], patientId);
    assert.match(refreshed.scope ?? '', /\boffline_access\b/);
  });

  void it('standalone launch uses the picked patient', async () => {
    const pkce = newPkce();
    const { redirect } = await runInteraction(
      authorizeUrl({
        scope: 'launch/patient openid fhirUser patient/Observation.rs',
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
      }),
      { patient: patientId },
      DEFAULT_TEST_USER_PASSWORD,
      patientFamily
    );
    assert.ok(redirect, 'The standalone authorization ended without a redirect to the app');
    const tokens = await exchangeCode(redirect, pkce);
    assert.equal(tokens['patient'], patientId);
    assert.equal(tokens['need_patient_banner'], true);
    assert.equal(tokens.refresh_token, undefined);
  });

  void it('requires PKCE', async () => {
    const { redirect } = await runInteraction(authorizeUrl({ scope: EHR_SCOPE }));
    assert.ok(redirect);
    assert.equal(redirect.searchParams.get('error'), 'invalid_request');
    assert.match(redirect.searchParams.get('error_description') ?? '', /PKCE/);
  });

  void it('rejects an unknown aud', async () => {
    const pkce = newPkce();
    const { redirect } = await runInteraction(
      authorizeUrl({
        scope: EHR_SCOPE,
        aud: 'http://127.0.0.1:2/fhir',
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
      })
    );
    assert.ok(redirect);
    assert.equal(redirect.searchParams.get('error'), 'invalid_target');
  });

  void it('rejects the launch scope without launch', async () => {
    const pkce = newPkce();
    const { redirect } = await runInteraction(
      authorizeUrl({ scope: EHR_SCOPE, code_challenge: pkce.challenge, code_challenge_method: 'S256' })
    );
    assert.ok(redirect);
    assert.equal(redirect.searchParams.get('error'), 'invalid_request');
    assert.match(redirect.searchParams.get('error_description') ?? '', /open the app from the EHR/);
  });

  void it('rejects a wrong password', async () => {
    const pkce = newPkce();
    const { page } = await runInteraction(
      authorizeUrl({ scope: EHR_SCOPE, code_challenge: pkce.challenge, code_challenge_method: 'S256' }),
      {},
      'wrong-password'
    );
    assert.ok(page);
    assert.equal(page.status, 401);
    assert.match(await page.text(), /Invalid user name or password/);
  });

  void it('validates EHR launch requests', async () => {
    const post = (body: unknown): Promise<Response> =>
      fetch(`${auth().issuer}/ehr/launch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const invalid = await post({ patient: 'not an id!' });
    assert.equal(invalid.status, 400);
    assert.match(
      ((await invalid.json()) as { error_description: string }).error_description,
      /Invalid patient/
    );

    const missing = await post({ patient: `missing-${runId}` });
    assert.equal(missing.status, 404);
  });

  void it('allows CORS for the app origin only', async () => {
    const preflight = (origin: string): Promise<Response> =>
      fetch(`${auth().issuer}/token`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
    const allowed = await preflight(APP_ORIGIN);
    assert.equal(allowed.headers.get('access-control-allow-origin'), APP_ORIGIN);

    // For a foreign origin the POST response carries no CORS header, so the browser blocks it.
    const response = await fetch(`${auth().issuer}/token`, {
      method: 'POST',
      headers: { origin: 'http://127.0.0.1:3', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: 'x',
        client_id: CLIENT_ID,
      }).toString(),
    });
    assert.equal(response.headers.get('access-control-allow-origin'), null);
  });
});
