import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detachedCopy } from './detached-copy.js';

void describe('detachedCopy', () => {
  void it('keeps ASCII and accented text', () => {
    const text = 'MSH|^~\\&|LAB^1.2.3^ISO|Hôpital Général|';
    const field = text.slice(9, 40);

    assert.equal(detachedCopy(field), field);
    assert.equal(detachedCopy(''), '');
  });

  void it('keeps an unpaired surrogate', () => {
    const text = `OBX value \uD800 end`;

    assert.equal(detachedCopy(text), text);
  });
});
