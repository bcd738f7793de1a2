/** Throwaway certificates for the TLS tests, made with the openssl command line at test time. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM files of a test PKI, in a temporary folder. */
export interface TestPki {
  dir: string;
  caCertFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** Client certificate and key signed by the same CA as the server. */
  clientCertFile: string;
  clientKeyFile: string;
  /** Client certificate and key signed by a second, unrelated CA. */
  foreignClientCertFile: string;
  foreignClientKeyFile: string;
  /** Reads a file of the PKI. */
  read(file: string): Buffer;
  /** Deletes the folder with the private keys. */
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed while creating test certificates: ${stderr}`, {
      cause: err,
    });
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function createCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-subj',
    `/CN=${name}`,
    '-days',
    '1',
  ]);
}

function createLeaf(dir: string, name: string, ca: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    'req',
    '-new',
    ...EC_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  ]);
}

/**
 * Creates two CAs, a server certificate for 127.0.0.1 and two client certificates, one per CA.
 * @throws When openssl is missing or fails.
 */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'monitormed-tls-'));
  createCa(dir, 'test-ca');
  createCa(dir, 'foreign-ca');
  createLeaf(dir, 'server', 'test-ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  createLeaf(dir, 'client', 'test-ca', 'extendedKeyUsage=clientAuth\n');
  createLeaf(dir, 'foreign-client', 'foreign-ca', 'extendedKeyUsage=clientAuth\n');

  return {
    dir,
    caCertFile: join(dir, 'test-ca.crt'),
    serverCertFile: join(dir, 'server.crt'),
    serverKeyFile: join(dir, 'server.key'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
    foreignClientCertFile: join(dir, 'foreign-client.crt'),
    foreignClientKeyFile: join(dir, 'foreign-client.key'),
    read: (file) => readFileSync(file),
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
