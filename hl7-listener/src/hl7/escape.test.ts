import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEscapes, encodeEscapes } from './escape.js';

void describe('decodeEscapes', () => {
  void it('decodes delimiter escapes', () => {
    assert.equal(decodeEscapes('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f'), 'a|b^c&d~e\\f');
  });

  void it('decodes hexadecimal escapes', () => {
    assert.equal(decodeEscapes('line1\\X0D0A\\line2'), 'line1\r\nline2');
    assert.equal(decodeEscapes('caf\\XC3A9\\'), 'café');
    assert.equal(decodeEscapes('caf\\XE9\\'), 'café');
  });

  void it('decodes back-to-back hex escapes as one byte run', () => {
    assert.equal(decodeEscapes('caf\\XC3\\\\XA9\\'), 'café');
    assert.equal(decodeEscapes('\\XE2\\\\X82AC\\'), '€');
    assert.equal(decodeEscapes('\\X41\\\\X42\\-\\X43\\'), 'AB-C');
  });

  void it('stops a hex run at another escape', () => {
    assert.equal(decodeEscapes('\\X41\\\\F\\\\X42\\'), 'A|B');
  });

  void it('keeps a lone escape character between words', () => {
    assert.equal(decodeEscapes('a \\ b'), 'a \\ b');
  });

  void it('turns .br and .sp into line breaks', () => {
    assert.equal(decodeEscapes('one\\.br\\two\\.sp\\three'), 'one\ntwo\nthree');
  });

  void it('removes highlighting and charset switches', () => {
    assert.equal(decodeEscapes('\\H\\bold\\N\\ \\C2842\\text\\.ce\\'), 'bold text');
  });

  void it('keeps an unterminated escape as text', () => {
    assert.equal(decodeEscapes('C:\\temp'), 'C:\\temp');
  });

  void it('keeps an unknown escape as sent', () => {
    assert.equal(decodeEscapes('a\\Q\\b'), 'a\\Q\\b');
  });

  void it('decodes with custom delimiters', () => {
    const custom = { field: '^', component: '~', repetition: '|', escape: '\\', subcomponent: '&' };
    assert.equal(decodeEscapes('a\\F\\b\\S\\c', custom), 'a^b~c');
  });

  void it('round-trips encodeEscapes', () => {
    const text = 'a|b^c&d~e\\f\r\ng';
    assert.equal(decodeEscapes(encodeEscapes(text)), text);
  });
});
