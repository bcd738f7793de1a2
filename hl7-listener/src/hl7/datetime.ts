/**
 * Conversion of HL7 v2 DTM/TS/DT values (`YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]`) to FHIR dateTime.
 * FHIR requires seconds and an offset whenever a time is present, so shorter times are padded with
 * zeros and times without an offset take the facility's IANA time zone.
 */

const DTM =
  /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

/** Thrown when a value is not a valid HL7 date/time. */
export class Hl7DateTimeError extends Error {
  constructor(value: string) {
    super(`Invalid HL7 date/time "${value}": expected YYYY[MM[DD[HHMM[SS[.S]]]]][+/-ZZZZ]`);
    this.name = 'Hl7DateTimeError';
  }
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

function formatOffset(offsetMinutes: number): string {
  const sign = offsetMinutes < 0 ? '-' : '+';
  const absolute = Math.abs(offsetMinutes);
  return `${sign}${pad(Math.floor(absolute / 60))}:${pad(absolute % 60)}`;
}

/**
 * Returns the UTC offset of an IANA time zone at one instant, in minutes.
 * @param timeZone - IANA zone such as `Europe/Paris`.
 * @param epochMs - The instant.
 */
export function zoneOffsetMinutes(timeZone: string, epochMs: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(epochMs));
  const get = (type: string): number => Number(parts.find((part) => part.type === type)?.value ?? '0');
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second')
  );
  return Math.round((asUtc - Math.floor(epochMs / 1000) * 1000) / 60_000);
}

/**
 * Converts an HL7 date/time to a FHIR dateTime.
 * @param value - HL7 DTM, TS (first component only) or DT text.
 * @param facilityTimeZone - IANA zone applied to times without an offset.
 * @returns `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or `YYYY-MM-DDThh:mm:ss[.sss]+hh:mm`.
 * @throws Hl7DateTimeError when the value is malformed or names an impossible date.
 */
export function toFhirDateTime(value: string, facilityTimeZone: string): string {
  const match = DTM.exec(value.trim());
  if (match === null) {
    throw new Hl7DateTimeError(value);
  }

  const [, year = '', month, day, hour, minute, second, fraction, offset] = match;
  if (month !== undefined && (Number(month) < 1 || Number(month) > 12)) {
    throw new Hl7DateTimeError(value);
  }
  if (day !== undefined) {
    const daysInMonth = new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate();
    if (Number(day) < 1 || Number(day) > daysInMonth) {
      throw new Hl7DateTimeError(value);
    }
  }
  if (hour === undefined) {
    return [year, month, day].filter((part) => part !== undefined).join('-');
  }

  const minuteValue = Number(minute ?? '0');
  const secondValue = Number(second ?? '0');
  if (Number(hour) > 23 || minuteValue > 59 || secondValue > 59) {
    throw new Hl7DateTimeError(value);
  }

  const time = `${hour}:${pad(minuteValue)}:${pad(secondValue)}${fraction === undefined ? '' : `.${fraction}`}`;
  const date = `${year}-${month ?? '01'}-${day ?? '01'}`;
  return `${date}T${time}${offset === undefined ? localOffset(date, time, facilityTimeZone) : formatOffset(parseOffset(offset, value))}`;
}

function parseOffset(offset: string, value: string): number {
  const sign = offset.startsWith('-') ? -1 : 1;
  const hours = Number(offset.slice(1, 3));
  const minutes = Number(offset.slice(3, 5));
  if (hours > 14 || minutes > 59) {
    throw new Hl7DateTimeError(value);
  }
  return sign * (hours * 60 + minutes);
}

function localOffset(date: string, time: string, timeZone: string): string {
  const wallClockAsUtc = Date.parse(`${date}T${time.slice(0, 8)}Z`);
  // The offset depends on the instant, which depends on the offset: two rounds settle DST transitions.
  const firstGuess = zoneOffsetMinutes(timeZone, wallClockAsUtc);
  const offset = zoneOffsetMinutes(timeZone, wallClockAsUtc - firstGuess * 60_000);
  return formatOffset(offset);
}

/**
 * Tells whether an HL7 date/time has a time part but no UTC offset, so that {@link toFhirDateTime}
 * fills in the facility time zone.
 * @param value - HL7 DTM, TS or DT text.
 */
export function needsFacilityTimeZone(value: string): boolean {
  const match = DTM.exec(value.trim());
  return match !== null && match[4] !== undefined && match[8] === undefined;
}

const TM = /^(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?([+-]\d{4})?$/;

/**
 * Converts an HL7 TM value (`HH[MM[SS[.S+]]][+/-ZZZZ]`) to a FHIR time `hh:mm:ss[.s]`.
 * FHIR time has no offset, so an offset in the value is dropped.
 * @throws Hl7DateTimeError when the value is malformed or out of range.
 */
export function toFhirTime(value: string): string {
  const match = TM.exec(value.trim());
  if (match === null) {
    throw new Hl7DateTimeError(value);
  }
  const [, hour = '', minute = '00', second = '00', fraction] = match;
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) {
    throw new Hl7DateTimeError(value);
  }
  return `${hour}:${minute}:${second}${fraction === undefined ? '' : `.${fraction}`}`;
}
