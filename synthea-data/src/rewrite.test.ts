import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle } from '@medplum/fhirtypes';
import { BundleFormatError } from './bundle-error.js';
import { orderBundleFiles } from './load.js';
import {
  assertTransactionBundle,
  deterministicId,
  identifierQuery,
  rewriteForIdempotentLoad,
} from './rewrite.js';

const bundle: Bundle = {
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    {
      fullUrl: 'urn:uuid:11111111-2222-4333-8444-555555555555',
      resource: {
        resourceType: 'Patient',
        identifier: [
          {
            system: 'https://github.com/synthetichealth/synthea',
            value: '11111111-2222-4333-8444-555555555555',
          },
        ],
      },
      request: { method: 'POST', url: 'Patient' },
    },
    {
      fullUrl: 'urn:uuid:AAAAAAAA-2222-4333-8444-555555555555',
      resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' } },
      request: { method: 'POST', url: 'Encounter' },
    },
    {
      fullUrl: 'urn:uuid:99999999-2222-4333-8444-555555555555',
      resource: { resourceType: 'Organization', identifier: [{ system: 'urn:x', value: 'a' }] },
      request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=urn:x|a' },
    },
  ],
};

void describe('rewriteForIdempotentLoad', () => {
  void it('turns identified POSTs into conditional creates', () => {
    const { bundle: rewritten, stats } = rewriteForIdempotentLoad(bundle);
    const request = rewritten.entry?.[0]?.request;
    assert.equal(request?.method, 'POST');
    assert.equal(
      request.ifNoneExist,
      'identifier=https%3A%2F%2Fgithub.com%2Fsynthetichealth%2Fsynthea|11111111-2222-4333-8444-555555555555'
    );
    assert.equal(stats.conditionalCreates, 1);
  });

  void it('turns unidentified POSTs into PUTs with the uuid as id', () => {
    const entry = rewriteForIdempotentLoad(bundle).bundle.entry?.[1];
    assert.equal(entry?.request?.method, 'PUT');
    assert.equal(entry.request.url, 'Encounter/aaaaaaaa-2222-4333-8444-555555555555');
    assert.equal(entry.resource?.id, 'aaaaaaaa-2222-4333-8444-555555555555');
    assert.equal(entry.fullUrl, 'urn:uuid:AAAAAAAA-2222-4333-8444-555555555555');
  });

  void it('keeps entries that are already conditional', () => {
    const { bundle: rewritten, stats } = rewriteForIdempotentLoad(bundle);
    assert.deepEqual(rewritten.entry?.[2], bundle.entry?.[2]);
    assert.equal(stats.unchanged, 1);
  });

  void it('does not modify its input', () => {
    const before = JSON.stringify(bundle);
    rewriteForIdempotentLoad(bundle);
    assert.equal(JSON.stringify(bundle), before);
  });
});

void describe('deterministicId', () => {
  void it('hashes ids that are numeric or too long', () => {
    const numeric = deterministicId('urn:uuid:12345');
    assert.match(numeric, /^s-[0-9a-f]{40}$/);
    assert.equal(deterministicId('urn:uuid:12345'), numeric);
    assert.match(deterministicId(`urn:uuid:${'a'.repeat(70)}`), /^s-[0-9a-f]{40}$/);
  });
});

void describe('identifierQuery', () => {
  void it('needs both system and value', () => {
    assert.equal(identifierQuery({ value: 'x' }), undefined);
    assert.equal(identifierQuery({ system: 'urn:x' }), undefined);
    assert.equal(identifierQuery(undefined), undefined);
  });
});

void describe('assertTransactionBundle', () => {
  const cases: [string, unknown, RegExp][] = [
    ['non-bundle', { resourceType: 'Patient' }, /Not a FHIR Bundle/],
    ['collection', { resourceType: 'Bundle', type: 'collection', entry: [] }, /Bundle.type is "collection"/],
    ['no entries', { resourceType: 'Bundle', type: 'transaction' }, /Bundle.entry is missing/],
    [
      'entry without request',
      { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Patient' } }] },
      /entry\[0\] has no request/,
    ],
  ];
  for (const [name, value, message] of cases) {
    void it(`rejects ${name}`, () => {
      assert.throws(
        () => assertTransactionBundle(value),
        (err: unknown) => err instanceof BundleFormatError && message.test(err.message)
      );
    });
  }
});

void describe('orderBundleFiles', () => {
  void it('puts hospital then practitioner bundles first', () => {
    const ordered = orderBundleFiles([
      'Zed_1.json',
      'practitionerInformation1.json',
      'Abe_2.json',
      'hospitalInformation1.json',
    ]);
    assert.deepEqual(ordered, [
      'hospitalInformation1.json',
      'practitionerInformation1.json',
      'Abe_2.json',
      'Zed_1.json',
    ]);
  });
});
