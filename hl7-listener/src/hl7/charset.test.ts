import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeMessageBytes,
  findInvalidUtf8Offset,
  normalizeCharset,
  readDeclaredCharset,
} from './charset.js';

function message(msh18: string, body: Buffer): Buffer {
  const header = `MSH|^~\\&|APP|FAC|MM|MMFAC|20260314||ORU^R01|C1|P|2.5.1||||||${msh18}\r`;
  return Buffer.concat([
    Buffer.from(header, 'latin1'),
    Buffer.from('OBX|1|ST|X^Y^L||', 'latin1'),
    body,
    Buffer.from('\r'),
  ]);
}

void describe('readDeclaredCharset', () => {
  void it('reads MSH-18 before decoding', () => {
    assert.equal(readDeclaredCharset(message('8859/1', Buffer.from([0xe9]))), '8859/1');
  });

  void it('reads the first repetition only', () => {
    assert.equal(readDeclaredCharset(message('UNICODE UTF-8~ISO IR87', Buffer.alloc(0))), 'UNICODE UTF-8');
  });

  void it('follows a custom field separator', () => {
    const bytes = Buffer.from('MSH#^~\\&#A#B#C#D#20260314##ORU^R01#1#P#2.5.1######ASCII\r', 'latin1');
    assert.equal(readDeclaredCharset(bytes), 'ASCII');
  });

  void it('skips a UTF-8 byte order mark', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), message('UNICODE UTF-8', Buffer.alloc(0))]);
    assert.equal(readDeclaredCharset(bytes), 'UNICODE UTF-8');
  });

  void it('returns empty when MSH-18 is absent', () => {
    assert.equal(readDeclaredCharset(Buffer.from('MSH|^~\\&|A|B|C|D|20260314||ORU^R01|1|P|2.5.1\r')), '');
  });
});

void describe('normalizeCharset', () => {
  const cases: [string, string | undefined][] = [
    ['ASCII', 'ASCII'],
    ['ascii ', 'ASCII'],
    ['8859/1', '8859/1'],
    ['ISO-8859-1', '8859/1'],
    ['UNICODE UTF-8', 'UNICODE UTF-8'],
    ['unicode  utf-8 ', 'UNICODE UTF-8'],
    ['UNICODE', 'UNICODE UTF-8'],
    ['UTF-8', 'UNICODE UTF-8'],
    ['8859/2', undefined],
    ['UNICODE UTF-16', undefined],
  ];
  for (const [declared, expected] of cases) {
    void it(`maps "${declared}"`, () => {
      assert.equal(normalizeCharset(declared), expected);
    });
  }
});

void describe('findInvalidUtf8Offset', () => {
  void it('accepts valid multi-byte text', () => {
    assert.equal(findInvalidUtf8Offset(Buffer.from('Zoë 😀 €', 'utf8')), -1);
  });

  void it('finds a lone continuation byte', () => {
    assert.equal(findInvalidUtf8Offset(Buffer.from([0x41, 0x42, 0x80, 0x43])), 2);
  });

  void it('finds a truncated sequence', () => {
    assert.equal(findInvalidUtf8Offset(Buffer.from([0x41, 0xc3, 0x41])), 1);
  });

  void it('rejects overlong forms and surrogates', () => {
    assert.equal(findInvalidUtf8Offset(Buffer.from([0xc0, 0xaf])), 0);
    assert.equal(findInvalidUtf8Offset(Buffer.from([0xe0, 0x80, 0xaf])), 0);
    assert.equal(findInvalidUtf8Offset(Buffer.from([0xed, 0xa0, 0x80])), 0);
    assert.equal(findInvalidUtf8Offset(Buffer.from([0xf4, 0x90, 0x80, 0x80])), 0);
  });
});

void describe('decodeMessageBytes', () => {
  void it('decodes ISO 8859-1 exactly', () => {
    const decoded = decodeMessageBytes(message('8859/1', Buffer.from([0x5a, 0x6f, 0xeb, 0x20, 0x80])));
    assert.equal(decoded.issue, undefined);
    assert.equal(decoded.charset, '8859/1');
    assert.ok(decoded.text.includes('Zo\u00eb \u0080'));
  });

  void it('decodes UTF-8', () => {
    const decoded = decodeMessageBytes(message('UNICODE UTF-8', Buffer.from('Zoë', 'utf8')));
    assert.equal(decoded.issue, undefined);
    assert.ok(decoded.text.includes('Zoë'));
  });

  void it('reports invalid UTF-8 with its offset', () => {
    const bytes = message('UNICODE UTF-8', Buffer.from([0x41, 0xe9, 0x42]));
    const decoded = decodeMessageBytes(bytes);
    assert.equal(decoded.issue?.ackCode, 'AE');
    assert.equal(decoded.issue.location?.field, 18);
    assert.match(decoded.issue.text, /UNICODE UTF-8/);
    assert.match(decoded.issue.text, new RegExp(`byte offset ${bytes.indexOf(0xe9)}$`));
  });

  void it('reports non-ASCII bytes under ASCII', () => {
    const bytes = message('ASCII', Buffer.from([0x41, 0xe9]));
    const decoded = decodeMessageBytes(bytes);
    assert.equal(decoded.issue?.errorCode, '102');
    assert.match(
      decoded.issue.text,
      new RegExp(`ASCII: byte 0xe9 is not ASCII at byte offset ${bytes.indexOf(0xe9)}`)
    );
  });

  void it('reports an unsupported MSH-18 as 103', () => {
    const decoded = decodeMessageBytes(message('8859/15', Buffer.from('x')));
    assert.equal(decoded.issue?.ackCode, 'AE');
    assert.equal(decoded.issue.errorCode, '103');
    assert.deepEqual(decoded.issue.location, { segment: 'MSH', segmentSequence: 1, field: 18 });
  });

  void it('falls back to ISO 8859-1 without MSH-18', () => {
    const decoded = decodeMessageBytes(message('', Buffer.from([0x5a, 0x6f, 0xeb])));
    assert.equal(decoded.issue, undefined);
    assert.equal(decoded.charset, undefined);
    assert.ok(decoded.text.includes('Zo\u00eb'));
  });
});
