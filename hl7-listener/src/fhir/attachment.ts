import { createHash } from 'node:crypto';
import type { Attachment } from '@medplum/fhirtypes';
import { textValue, type Hl7Segment } from '../hl7/segment.js';
import { decodeEscapes } from '../hl7/escape.js';
import { valueError } from './numeric-value.js';

/** Default largest decoded ED payload, in bytes (5 MiB); a larger one gets an AE. */
export const DEFAULT_MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;

/** ED-3 data subtypes (HL7 table 0291 and common local values) to MIME types. */
const MIME_TYPES: Record<string, string> = {
  PDF: 'application/pdf',
  RTF: 'application/rtf',
  HTML: 'text/html',
  XML: 'application/xml',
  JPEG: 'image/jpeg',
  JPG: 'image/jpeg',
  PNG: 'image/png',
  GIF: 'image/gif',
  TIFF: 'image/tiff',
  BMP: 'image/bmp',
  DICOM: 'application/dicom',
  PLAIN: 'text/plain',
  'OCTET-STREAM': 'application/octet-stream',
};

function contentTypeOf(typeOfData: string, subtype: string): string {
  if (/^[a-z]+\/[a-z0-9.+-]+$/i.test(subtype)) {
    // Some senders put a MIME type in ED-3 directly.
    return subtype.toLowerCase();
  }
  return (
    MIME_TYPES[subtype.toUpperCase()] ??
    (typeOfData.toUpperCase() === 'TEXT' ? 'text/plain' : 'application/octet-stream')
  );
}

/**
 * Decodes OBX-5 of type ED (`source^typeOfData^subtype^encoding^data`, HL7 v2.5.1 section 2.A.24) into a
 * FHIR Attachment with inline base64 data, its size and SHA-1 hash. ED-4 encodings: `Base64`, `Hex` and
 * `A` (plain text, escape sequences decoded and stored as UTF-8).
 * @param obx - The OBX segment.
 * @param maxBytes - Largest decoded payload accepted, in bytes.
 * @returns The attachment.
 * @throws Hl7ProcessingError (AE, ERR 102 at OBX-5) when ED-5 is empty, not valid for its encoding, or too large,
 *   and (AE, ERR 103) when ED-4 names an unknown encoding.
 */
export function decodeEncapsulatedData(obx: Hl7Segment, maxBytes: number): Attachment {
  const typeOfData = textValue(obx, 5, 2);
  const subtype = textValue(obx, 5, 3);
  const encoding = textValue(obx, 5, 4).toUpperCase();
  // ED-5 may itself contain component separators in encoding A, so the rest of the repetition is the data.
  const dataComponents = (obx.fields[5]?.[0] ?? []).slice(4).map((component) => component.join('&'));
  const data = dataComponents.join('^');
  if (data.trim() === '') {
    throw valueError(obx, 'OBX-5.5 ED data is required but empty', 5);
  }

  let bytes: Buffer;
  switch (encoding) {
    case 'BASE64': {
      const compact = data.replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
        throw valueError(
          obx,
          'OBX-5.5 ED data is invalid: OBX-5.4 names Base64 but the data is not Base64',
          5
        );
      }
      bytes = Buffer.from(compact, 'base64');
      break;
    }
    case 'HEX': {
      const compact = data.replace(/\s+/g, '');
      if (!/^([0-9A-Fa-f]{2})*$/.test(compact)) {
        throw valueError(
          obx,
          'OBX-5.5 ED data is not an even number of hexadecimal digits although OBX-5.4 says Hex',
          5
        );
      }
      bytes = Buffer.from(compact, 'hex');
      break;
    }
    case 'A':
      bytes = Buffer.from(decodeEscapes(data), 'utf8');
      break;
    default:
      throw valueError(obx, 'OBX-5.4 ED encoding must be A, Hex or Base64 (HL7 table 0299)', 4);
  }

  if (bytes.length > maxBytes) {
    throw valueError(
      obx,
      `OBX-5.5 ED data of ${String(bytes.length)} bytes exceeds the limit of ${String(maxBytes)} bytes`,
      5
    );
  }
  return {
    contentType: contentTypeOf(typeOfData, subtype),
    data: bytes.toString('base64'),
    size: bytes.length,
    hash: createHash('sha1').update(bytes).digest('base64'),
  };
}
