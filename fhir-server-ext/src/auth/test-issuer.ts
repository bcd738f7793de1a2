/**
 * A minimal token issuer for tests: real RS256 key pairs from jose, an OpenID Connect discovery document
 * and a JWKS served over loopback HTTP, and a signer for tokens with chosen claims. It issues no tokens
 * over OAuth; the SMART authorization server does that in a deployment.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

/** One signing key and the kid the JWKS lists it under. */
interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** Options of one signed token. */
export interface SignOptions {
  /** Expiry in seconds from now; negative for an expired token. Defaults to 300. */
  expiresInS?: number;
  /** `nbf` in seconds from now. */
  notBeforeS?: number;
  issuer?: string;
  audience?: string;
  /** Sign with a key the JWKS does not contain, under the current kid: a bad signature. */
  foreignKey?: boolean;
}

/** A running test issuer. */
export interface TestIssuer {
  issuer: string;
  jwksUrl: string;
  /** Signs a JWT with the current key. */
  sign(claims: JWTPayload, options?: SignOptions): Promise<string>;
  /** Adds a new key with a new kid and signs from then on with it; the JWKS lists both. */
  rotate(): Promise<void>;
  close(): Promise<void>;
}

async function createKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicJwk };
}

/**
 * Starts the issuer on a free loopback port.
 * @param audience - Default `aud` of signed tokens.
 */
export async function startTestIssuer(audience: () => string): Promise<TestIssuer> {
  const keys: SigningKey[] = [await createKey('key-1')];
  const foreign = await createKey('foreign');

  const server: Server = createServer((req, res) => {
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          issuer,
          jwks_uri: `${issuer}/jwks`,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          response_types_supported: ['code'],
          grant_types_supported: ['authorization_code', 'refresh_token'],
        })
      );
      return;
    }
    if (req.url === '/jwks') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: keys.map((key) => key.publicJwk) }));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let closing: Promise<void> | undefined;
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    async sign(claims, options = {}) {
      const current = keys[keys.length - 1] ?? foreign;
      const nowS = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: current.kid, typ: 'at+jwt' })
        .setIssuer(options.issuer ?? issuer)
        .setAudience(options.audience ?? audience())
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + (options.expiresInS ?? 300));
      if (options.notBeforeS !== undefined) {
        jwt.setNotBefore(nowS + options.notBeforeS);
      }
      return jwt.sign(options.foreignKey === true ? foreign.privateKey : current.privateKey);
    },
    async rotate() {
      keys.push(await createKey(`key-${keys.length + 1}`));
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => {
          if (err) {
            reject(err);
          } else {
            resolve();
          }
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
