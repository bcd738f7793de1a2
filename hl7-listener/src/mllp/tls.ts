import { readFileSync } from 'node:fs';
import { createSecureContext, type TlsOptions } from 'node:tls';
import { TlsConfigError } from './tls-config-error.js';

/** Paths of the PEM files that turn on TLS for the MLLP port. */
export interface MllpTlsFiles {
  /** Server certificate chain, PEM (env `HL7_TLS_CERT_FILE`). */
  certFile: string;
  /** Private key of the server certificate, PEM (env `HL7_TLS_KEY_FILE`). */
  keyFile: string;
  /** CA certificates that sign client certificates, PEM (env `HL7_TLS_CA_FILE`). */
  caFile?: string;
  /** Reject clients without a certificate signed by `caFile` (env `HL7_TLS_REQUIRE_CLIENT_CERT`). */
  requireClientCert: boolean;
}

/**
 * Time a client has to finish the TLS handshake. Node's default is 120 s, and until the handshake ends the
 * connection takes one of the `maxConnections` slots.
 */
const HANDSHAKE_TIMEOUT_MS = 10_000;

function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new TlsConfigError(`Cannot read ${variable}="${path}": ${reason}. Set it to a readable PEM file.`, {
      cause: err,
    });
  }
}

/**
 * Reads the certificate files and builds the options of `tls.createServer`. With `requireClientCert` the
 * server requests a client certificate and closes the connection unless it chains to `caFile` (mutual TLS).
 * @param files - The configured paths.
 * @returns Options for `node:tls` `createServer`.
 * @throws TlsConfigError when a file is missing or unreadable, when the key does not match the certificate,
 *   or when client certificates are required without a CA file.
 */
export function loadTlsOptions(files: MllpTlsFiles): TlsOptions {
  if (files.requireClientCert && files.caFile === undefined) {
    throw new TlsConfigError(
      'HL7_TLS_REQUIRE_CLIENT_CERT is true but HL7_TLS_CA_FILE is not set. Set it to the CA that signs client certificates.'
    );
  }

  const options: TlsOptions = {
    cert: readPem('HL7_TLS_CERT_FILE', files.certFile),
    key: readPem('HL7_TLS_KEY_FILE', files.keyFile),
    requestCert: files.requireClientCert,
    rejectUnauthorized: files.requireClientCert,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    minVersion: 'TLSv1.2',
  };
  if (files.caFile !== undefined) {
    options.ca = readPem('HL7_TLS_CA_FILE', files.caFile);
  }

  // Building the context now turns a bad PEM or a key that does not match the certificate into a startup
  // error, instead of a failure on the first connection.
  try {
    createSecureContext(options);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new TlsConfigError(
      `Invalid TLS files HL7_TLS_CERT_FILE="${files.certFile}", HL7_TLS_KEY_FILE="${files.keyFile}": ${reason}. Check that both are PEM and that the key belongs to the certificate.`,
      { cause: err }
    );
  }
  return options;
}
