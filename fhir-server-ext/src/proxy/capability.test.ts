/** The proxy's CapabilityStatement and SMART configuration, built from fixed inputs without peers. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { CapabilityStatement, OperationDefinition } from '@medplum/fhirtypes';
import { loadSmartConfig } from '../auth/smart-config.js';
import {
  adjustCapabilityStatement,
  buildSmartConfiguration,
  loadOperationDefinitions,
  OAUTH_URIS_EXTENSION,
} from './capability.js';

const upstream: CapabilityStatement = {
  resourceType: 'CapabilityStatement',
  status: 'active',
  date: '2026-01-01',
  kind: 'instance',
  fhirVersion: '4.0.1',
  format: ['json'],
  rest: [
    {
      mode: 'server',
      resource: [
        { type: 'Device', interaction: [{ code: 'read' }], conditionalDelete: 'multiple' },
        { type: 'Observation', interaction: [{ code: 'read' }] },
      ],
    },
  ],
};

const monitoringSummary: OperationDefinition = {
  resourceType: 'OperationDefinition',
  url: 'https://monitormed.dev/fhir/OperationDefinition/monitoring-summary',
  name: 'MonitoringSummary',
  status: 'active',
  kind: 'operation',
  code: 'monitoring-summary',
  resource: ['Device'],
  system: false,
  type: false,
  instance: true,
};

void describe('proxy capability documents', () => {
  void it('operation definitions load from folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mm-opdefs-'));
    try {
      await writeFile(
        join(dir, 'OperationDefinition-monitoring-summary.json'),
        JSON.stringify(monitoringSummary)
      );
      await writeFile(join(dir, 'StructureDefinition-other.json'), '{}');
      const definitions = await loadOperationDefinitions(dir);
      assert.deepEqual(
        definitions.map((definition) => definition.code),
        ['monitoring-summary']
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('missing folder yields no operations', async () => {
    assert.deepEqual(await loadOperationDefinitions(join(tmpdir(), 'mm-no-such-folder')), []);
  });

  void it('statement gets SMART security and operations', () => {
    const smart = loadSmartConfig({ SMART_ISSUER: 'https://auth.example.org' });
    const statement = adjustCapabilityStatement(upstream, {
      publicBaseUrl: 'https://ext.example.org/fhir',
      issuer: {
        issuer: 'https://auth.example.org',
        authorization_endpoint: 'https://auth.example.org/authorize',
        token_endpoint: 'https://auth.example.org/token',
      },
      smart,
      operations: [monitoringSummary],
    });

    assert.equal(statement.implementation?.url, 'https://ext.example.org/fhir');
    const rest = statement.rest?.[0];
    assert.ok(rest?.security !== undefined, 'rest[0].security is missing');
    assert.equal(rest.security.service?.[0]?.coding?.[0]?.code, 'SMART-on-FHIR');
    assert.equal(rest.security.cors, true);
    const oauth = rest.security.extension?.find((extension) => extension.url === OAUTH_URIS_EXTENSION);
    assert.deepEqual(
      oauth?.extension?.map((extension) => extension.valueUri),
      ['https://auth.example.org/authorize', 'https://auth.example.org/token']
    );
    const device = rest.resource?.find((resource) => resource.type === 'Device');
    assert.ok(device !== undefined, 'Device is missing from rest[0].resource');
    assert.deepEqual(device.operation, [{ name: 'monitoring-summary', definition: monitoringSummary.url }]);
    assert.equal(device.conditionalDelete, 'not-supported');
    assert.equal(upstream.rest?.[0]?.resource?.[0]?.conditionalDelete, 'multiple', 'the input was changed');
  });

  void it('configured endpoints win over discovery', () => {
    const smart = loadSmartConfig({
      SMART_ISSUER: 'https://auth.example.org',
      SMART_TOKEN_ENDPOINT: 'https://token.example.org/token',
      SMART_CAPABILITIES: 'launch-ehr permission-v2',
    });
    const configuration = buildSmartConfiguration(smart, {
      issuer: 'https://auth.example.org',
      jwks_uri: 'https://auth.example.org/jwks',
      token_endpoint: 'https://auth.example.org/token',
      code_challenge_methods_supported: ['plain', 'S256'],
    });

    assert.equal(configuration.issuer, 'https://auth.example.org');
    assert.equal(configuration.jwks_uri, 'https://auth.example.org/jwks');
    assert.equal(configuration.token_endpoint, 'https://token.example.org/token');
    assert.equal(configuration.authorization_endpoint, undefined);
    assert.deepEqual(configuration.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(configuration.capabilities, ['launch-ehr', 'permission-v2']);
  });
});
