/** CDS Hooks settings from environment variables: defaults, CDS_CLIENTS parsing and errors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@monitormed/common';
import { loadCdsHooksSettings } from './settings.js';

const config = { fhirBaseUrl: 'http://127.0.0.1:8080/fhir', smartAppUrl: 'http://127.0.0.1:8082/' };

void describe('CDS Hooks settings', () => {
  void it('defaults trust no client', () => {
    const settings = loadCdsHooksSettings(config, {});
    assert.deepEqual(settings.clients, []);
    assert.deepEqual(settings.fhirServers, ['http://127.0.0.1:8080/fhir']);
    assert.equal(settings.serviceBaseUrl, undefined);
    assert.equal(settings.smartLaunchUrl, 'http://127.0.0.1:8082/launch');
    assert.equal(settings.jwtMaxAgeSeconds, 300);
  });

  void it('CDS_CLIENTS and allow-lists are read', () => {
    const settings = loadCdsHooksSettings(config, {
      CDS_CLIENTS: JSON.stringify([
        {
          iss: 'https://ehr.example.org',
          jwksUrl: 'https://ehr.example.org/jwks/',
          jkuUrls: ['https://keys.example.org/jwks'],
        },
      ]),
      CDS_FHIR_SERVERS: 'https://ehr.example.org/fhir/, https://other.example.org/r4',
      CDS_SERVICE_BASE_URL: 'https://cds.example.org/',
    });
    assert.deepEqual(settings.clients, [
      {
        iss: 'https://ehr.example.org',
        jwksUrl: 'https://ehr.example.org/jwks',
        jkuUrls: ['https://keys.example.org/jwks'],
      },
    ]);
    assert.deepEqual(settings.fhirServers, ['https://ehr.example.org/fhir', 'https://other.example.org/r4']);
    assert.equal(settings.serviceBaseUrl, 'https://cds.example.org');
  });

  void it('invalid values raise ConfigError', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ CDS_CLIENTS: '{not json' }, /CDS_CLIENTS: not JSON/],
      [{ CDS_CLIENTS: '{}' }, /expected a JSON array/],
      [{ CDS_CLIENTS: '[{"jwksUrl":"https://a.example/jwks"}]' }, /CDS_CLIENTS\[0\]: "iss"/],
      [{ CDS_CLIENTS: '[{"iss":"a","jwksUrl":"file:///etc/keys"}]' }, /CDS_CLIENTS\[0\]\.jwksUrl/],
      [{ CDS_FHIR_SERVERS: 'not a url' }, /CDS_FHIR_SERVERS\[0\]/],
      [{ CDS_JWT_MAX_AGE_SECONDS: '0' }, /CDS_JWT_MAX_AGE_SECONDS/],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadCdsHooksSettings(config, env),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
        JSON.stringify(env)
      );
    }
  });
});
