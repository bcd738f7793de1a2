import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConnectionOptions } from 'node:tls';
import { COLLECTIONS, createLogger, type MongoHandle } from '@monitormed/common';
import { loadListenerConfig } from '../config.js';
import { startListener, type ListenerHandle } from '../index.js';
import { createTestPki, type TestPki } from '../test-support/certificates.js';
import { TEST_MRN_SYSTEM } from '../test-support/fhir.js';
import { TestMllpClient, ackSegments } from '../test-support/mllp-client.js';
import { loadFixture, requireFhir, requireMongo, runModels, runSuffix } from '../test-support/peers.js';
import { encodeFrame } from './framing.js';
import { TlsConfigError } from './tls-config-error.js';
import type { MllpTlsFiles } from './tls.js';

const logger = createLogger('hl7-listener-test', 'silent');

void describe('MLLP over TLS', () => {
  const suffix = runSuffix();
  const patientId = `TLS${suffix}`;
  let pki: TestPki;
  let mongo: MongoHandle | undefined;
  const listeners: ListenerHandle[] = [];
  let sequence = 0;

  const nextMessage = (): { controlId: string; text: string } => {
    sequence += 1;
    const controlId = `T${suffix}-${sequence}`;
    return {
      controlId,
      text: loadFixture('oru-r01-sepsis-ai.hl7', { CONTROL_ID: controlId, PATIENT_ID: patientId }),
    };
  };

  const database = (): MongoHandle => {
    assert.ok(mongo, 'MongoDB is not connected');
    return mongo;
  };

  const storedCount = (controlId: string): Promise<number> =>
    database().db.collection(COLLECTIONS.hl7Messages).countDocuments({ controlId });

  const start = async (tls: Partial<MllpTlsFiles> = {}): Promise<ListenerHandle> => {
    const listener = await startListener({
      config: {
        mllpPort: 0,
        tls: {
          certFile: pki.serverCertFile,
          keyFile: pki.serverKeyFile,
          caFile: pki.caCertFile,
          requireClientCert: false,
          ...tls,
        },
      },
      mongo: database(),
      models: runModels(suffix),
      logger,
    });
    listeners.push(listener);
    return listener;
  };

  const trustServer = (): ConnectionOptions => ({ ca: pki.read(pki.caCertFile) });

  /** Sends a message the server must not accept: the handshake fails or the connection closes with no ACK. */
  const assertRejected = async (port: number, options: ConnectionOptions): Promise<void> => {
    const { controlId, text } = nextMessage();
    let client: TestMllpClient;
    try {
      client = await TestMllpClient.connectTls(port, options);
    } catch {
      // TLS 1.2 clients see the rejected certificate during the handshake.
      assert.equal(await storedCount(controlId), 0);
      return;
    }
    // A TLS 1.3 client finishes its side of the handshake before the server checks its certificate,
    // so the rejection shows as a closed connection without an ACK.
    await assert.rejects(client.send(text, 3_000));
    assert.equal(await client.waitClosed(3_000), true, 'server kept the unauthenticated connection open');
    assert.equal(await storedCount(controlId), 0, 'message from an unauthenticated client was stored');
  };

  before(async () => {
    pki = createTestPki();
    const fhir = await requireFhir();
    mongo = await requireMongo();
    await fhir.create({
      resourceType: 'Patient',
      body: {
        resourceType: 'Patient',
        identifier: [{ system: TEST_MRN_SYSTEM, value: patientId }],
        gender: 'female',
        birthDate: '1970-01-01',
      },
    });
  });

  after(async () => {
    for (const listener of listeners) {
      await listener.close();
    }
    await mongo?.db.dropDatabase();
    await mongo?.client.close();
    pki.remove();
  });

  void it('answers AA over TLS', async () => {
    const listener = await start();
    const client = await TestMllpClient.connectTls(listener.port, trustServer());
    try {
      const { controlId, text } = nextMessage();
      const ack = await client.send(text);
      assert.deepEqual(ackSegments(ack, 'MSA')[0]?.slice(1, 3), ['AA', controlId]);
      assert.equal(await storedCount(controlId), 1);
    } finally {
      client.close();
    }
  });

  void it('accepts a client certificate from the CA', async () => {
    const listener = await start({ requireClientCert: true });
    const client = await TestMllpClient.connectTls(listener.port, {
      ...trustServer(),
      cert: pki.read(pki.clientCertFile),
      key: pki.read(pki.clientKeyFile),
    });
    try {
      const { controlId, text } = nextMessage();
      const ack = await client.send(text);
      assert.deepEqual(ackSegments(ack, 'MSA')[0]?.slice(1, 3), ['AA', controlId]);
    } finally {
      client.close();
    }
  });

  void it('rejects a client without certificate', async () => {
    const listener = await start({ requireClientCert: true });
    const failuresBefore = (await listener.metrics.tlsFailures.get()).values[0]?.value ?? 0;
    await assertRejected(listener.port, trustServer());
    const failuresAfter = (await listener.metrics.tlsFailures.get()).values[0]?.value ?? 0;
    assert.equal(failuresAfter - failuresBefore, 1);
  });

  void it('rejects a client certificate from another CA', async () => {
    const listener = await start({ requireClientCert: true });
    await assertRejected(listener.port, {
      ...trustServer(),
      cert: pki.read(pki.foreignClientCertFile),
      key: pki.read(pki.foreignClientKeyFile),
    });
  });

  void it('gives plain TCP no ACK and keeps serving', async () => {
    const listener = await start();
    const plain = await TestMllpClient.connect(listener.port);
    const { controlId, text } = nextMessage();
    await plain.writeRaw(encodeFrame(text)).catch(() => undefined);
    await assert.rejects(plain.nextReply(2_000));
    assert.equal(await plain.waitClosed(3_000), true, 'TLS port kept a plain TCP connection open');
    assert.equal(await storedCount(controlId), 0);

    const client = await TestMllpClient.connectTls(listener.port, trustServer());
    try {
      const next = nextMessage();
      const ack = await client.send(next.text);
      assert.equal(ackSegments(ack, 'MSA')[0]?.[1], 'AA');
    } finally {
      client.close();
    }
  });

  void it('fails to start with a missing key file', async () => {
    const missing = `${pki.dir}/missing.key`;
    await assert.rejects(
      startListener({
        config: {
          mllpPort: 0,
          tls: { certFile: pki.serverCertFile, keyFile: missing, requireClientCert: false },
        },
        mongo: database(),
        logger,
      }),
      (err: unknown) => {
        assert.ok(err instanceof TlsConfigError);
        assert.match(err.message, /HL7_TLS_KEY_FILE/);
        assert.ok(err.message.includes(missing));
        return true;
      }
    );
  });

  void it('fails to start with a key of another certificate', async () => {
    await assert.rejects(
      startListener({
        config: {
          mllpPort: 0,
          tls: { certFile: pki.serverCertFile, keyFile: pki.clientKeyFile, requireClientCert: false },
        },
        mongo: database(),
        logger,
      }),
      (err: unknown) => {
        assert.ok(err instanceof TlsConfigError);
        assert.match(err.message, /key belongs to the certificate/);
        return true;
      }
    );
  });

  void it('fails to start with mTLS but no CA file', async () => {
    await assert.rejects(
      startListener({
        config: {
          mllpPort: 0,
          tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, requireClientCert: true },
        },
        mongo: database(),
        logger,
      }),
      /HL7_TLS_CA_FILE is not set/
    );
  });

  void it('reads the TLS variables', () => {
    const config = loadListenerConfig({
      HL7_TLS_CERT_FILE: '/etc/hl7/server.crt',
      HL7_TLS_KEY_FILE: '/etc/hl7/server.key',
      HL7_TLS_CA_FILE: '/etc/hl7/ca.crt',
      HL7_TLS_REQUIRE_CLIENT_CERT: 'true',
    });
    assert.deepEqual(config.tls, {
      certFile: '/etc/hl7/server.crt',
      keyFile: '/etc/hl7/server.key',
      caFile: '/etc/hl7/ca.crt',
      requireClientCert: true,
    });
    assert.equal(loadListenerConfig({}).tls, undefined);
    assert.throws(
      () => loadListenerConfig({ HL7_TLS_CERT_FILE: '/etc/hl7/server.crt' }),
      /HL7_TLS_KEY_FILE is missing/
    );
    assert.throws(() => loadListenerConfig({ HL7_TLS_REQUIRE_CLIENT_CERT: 'true' }), /set HL7_TLS_CERT_FILE/);
  });
});
