/** SMART scope parsing and grant look-up, without peers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findGrants, parseScope, parseScopes, suggestScope, widestGrant } from './scopes.js';

void describe('SMART scopes', () => {
  void it('v2 letters parse in order', () => {
    const scope = parseScope('patient/Observation.rs');
    assert.ok(scope !== undefined, 'patient/Observation.rs did not parse');
    assert.equal(scope.context, 'patient');
    assert.equal(scope.resourceType, 'Observation');
    assert.deepEqual([...scope.permissions], ['r', 's']);
    assert.equal(scope.query, undefined);
  });

  void it('v1 suffixes map to v2', () => {
    assert.deepEqual([...(parseScope('user/Patient.read')?.permissions ?? [])], ['r', 's']);
    assert.deepEqual([...(parseScope('user/Patient.write')?.permissions ?? [])], ['c', 'u', 'd']);
    assert.deepEqual([...(parseScope('system/*.*')?.permissions ?? [])], ['c', 'r', 'u', 'd', 's']);
  });

  void it('invalid scopes grant nothing', () => {
    for (const text of [
      'patient/Observation.sr',
      'patient/Observation.rr',
      'patient/Observation.x',
      'openid',
      'launch/patient',
      'other/Observation.r',
      'patient/Observation.',
    ]) {
      assert.equal(parseScope(text), undefined, text);
    }
  });

  void it('granular query is kept', () => {
    const scope = parseScope(
      'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory'
    );
    assert.equal(
      scope?.query?.get('category'),
      'http://terminology.hl7.org/CodeSystem/observation-category|laboratory'
    );
  });

  void it('claim keeps clinical scopes only', () => {
    const scopes = parseScopes('openid fhirUser launch/patient patient/*.rs user/Device.r');
    assert.deepEqual(
      scopes.map((scope) => scope.text),
      ['patient/*.rs', 'user/Device.r']
    );
  });

  void it('grants follow type and letter', () => {
    const scopes = parseScopes('patient/*.rs user/Device.r');
    assert.equal(findGrants(scopes, 'Observation', 'r', 'p1').length, 1);
    assert.equal(findGrants(scopes, 'Observation', 'c', 'p1').length, 0);
    assert.equal(findGrants(scopes, 'Device', 'r', 'p1').length, 2);
    assert.equal(widestGrant(findGrants(scopes, 'Device', 'r', 'p1'))?.scope.text, 'user/Device.r');
  });

  void it('patient scope needs patient claim', () => {
    const scopes = parseScopes('patient/Observation.rs');
    assert.equal(findGrants(scopes, 'Observation', 'r', undefined).length, 0);
    assert.equal(findGrants(scopes, 'Observation', 'r', 'p1')[0]?.patientId, 'p1');
  });

  void it('granular scope grants no writes', () => {
    const scopes = parseScopes('user/Observation.cruds?category=laboratory');
    assert.equal(findGrants(scopes, 'Observation', 's', undefined).length, 1);
    assert.equal(findGrants(scopes, 'Observation', 'c', undefined).length, 0);
  });

  void it('suggestion matches the context', () => {
    assert.equal(suggestScope('Observation', 'c', undefined), 'user/Observation.c');
    assert.equal(suggestScope('Observation', 'r', 'p1'), 'patient/Observation.r');
  });
});
