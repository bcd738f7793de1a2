import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rebaseBundleLinks } from './bundle-links.js';

const UPSTREAM = 'http://127.0.0.1:8081/fhir';
const APP = 'http://127.0.0.1:8082/fhir';

void describe('rebaseBundleLinks', () => {
  void it('rebases links and fullUrls', () => {
    const body = JSON.stringify({
      resourceType: 'Bundle',
      link: [
        { relation: 'self', url: `${UPSTREAM}/Device?_count=50` },
        { relation: 'next', url: `${UPSTREAM}?_getpages=abc&_getpagesoffset=50` },
      ],
      entry: [{ fullUrl: `${UPSTREAM}/Device/7` }, { fullUrl: 'urn:uuid:1' }],
    });
    const rebased = JSON.parse(rebaseBundleLinks(body, UPSTREAM, APP)) as {
      link: { url: string }[];
      entry: { fullUrl: string }[];
    };
    assert.equal(rebased.link[0]?.url, `${APP}/Device?_count=50`);
    assert.equal(rebased.link[1]?.url, `${APP}?_getpages=abc&_getpagesoffset=50`);
    assert.equal(rebased.entry[0]?.fullUrl, `${APP}/Device/7`);
    assert.equal(rebased.entry[1]?.fullUrl, 'urn:uuid:1');
  });

  void it('keeps other servers and prefixes', () => {
    const body = JSON.stringify({
      resourceType: 'Bundle',
      link: [
        { relation: 'next', url: `${UPSTREAM}2/Device` },
        { relation: 'related', url: 'https://example.org/x' },
      ],
    });
    const rebased = JSON.parse(rebaseBundleLinks(body, UPSTREAM, APP)) as { link: { url: string }[] };
    assert.equal(rebased.link[0]?.url, `${UPSTREAM}2/Device`);
    assert.equal(rebased.link[1]?.url, 'https://example.org/x');
  });

  void it('leaves non-Bundles unchanged', () => {
    const patient = JSON.stringify({ resourceType: 'Patient', link: [{ url: `${UPSTREAM}/x` }] });
    assert.equal(rebaseBundleLinks(patient, UPSTREAM, APP), patient);
    assert.equal(rebaseBundleLinks('not json', UPSTREAM, APP), 'not json');
  });
});
