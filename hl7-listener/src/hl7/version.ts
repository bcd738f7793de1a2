import { ERROR_CODES, Hl7ProcessingError } from './hl7-error.js';

/** Oldest and newest HL7 v2 minor versions the listener parses and maps. */
const MIN_MINOR_VERSION = 1;
const MAX_MINOR_VERSION = 8;

/**
 * Normalizes MSH-12.1 (VID data type, version id from HL7 table 0104) to `2.x` or `2.x.y`.
 *
 * Senders in the wild write `2.5.1`, `2.3.1`, `2.8.2` and also the dotless `25` or `251`, so both
 * forms are read. Only the first component is used: `2.4^USA` carries an internationalization code
 * in component 2 that changes nothing in parsing.
 * @param versionId - MSH-12.1, decoded.
 * @returns The version, such as `2.5.1`.
 * @throws Hl7ProcessingError (AR, ERR 101 at MSH-12) when empty, (AR, ERR 203) when not a v2.1 to v2.8 version.
 */
export function normalizeVersionId(versionId: string): string {
  const location = { segment: 'MSH', segmentSequence: 1, field: 12 };
  if (versionId === '') {
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.requiredFieldMissing,
      location,
      text: 'MSH-12 version id is required but empty; send the HL7 version such as 2.5.1',
    });
  }

  const dotted = /^2\.(\d)(?:\.([0-9A-Za-z]+))?$/.exec(versionId);
  const compact = /^2(\d)(\d)?$/.exec(versionId);
  const match = dotted ?? compact;
  const minor = Number(match?.[1] ?? '0');
  if (match === null || minor < MIN_MINOR_VERSION || minor > MAX_MINOR_VERSION) {
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.unsupportedVersionId,
      location,
      text: `MSH-12 version id ${versionId} is not supported; this listener accepts HL7 v2.1 to v2.8`,
    });
  }
  const patch = match[2];
  return patch === undefined ? `2.${String(minor)}` : `2.${String(minor)}.${patch}`;
}
