/**
 * Reads what happened around a model in a period, beside its metrics. These are the alert events that
 * the analyzers' alert rules recorded, each with the rule's documented response, and the clinicians'
 * responses to the model's AI results (CDS Hooks card feedback and Flag `$respond`, counted per day).
 */
import {
  ALERT_COLLECTIONS,
  readOverrideRates,
  type AlertEventDocument,
  type OverrideRate,
} from '@monitormed/common';
import type { Db, Filter } from 'mongodb';
import { codePart, decimalParts, groupPart, integerPart, stringPart, type Part } from './parameters.js';

/** A period as UTC day keys, `fromDay` inclusive and `toDay` exclusive. An undefined end is open. */
export interface DayRange {
  fromDay: string | undefined;
  toDay: string | undefined;
}

const DAY_MS = 86_400_000;

/** Converts an optional `[from, to)` period to its UTC day keys. */
export function dayRangeOf(from: Date | undefined, to: Date | undefined): DayRange {
  return {
    fromDay: from?.toISOString().slice(0, 10),
    // A `to` after midnight still covers part of its day, so that day is included.
    toDay:
      to === undefined
        ? undefined
        : new Date(Math.ceil(to.getTime() / DAY_MS) * DAY_MS).toISOString().slice(0, 10),
  };
}

/**
 * Reads the alert events of a model whose window lies in the range, oldest first. Window keys of daily
 * and coarser windows start with the UTC day, so they compare as strings.
 */
export async function readAlertEvents(
  db: Db,
  modelId: string,
  range: DayRange
): Promise<AlertEventDocument[]> {
  const window: Record<string, string> = {};
  if (range.fromDay !== undefined) {
    window['$gte'] = range.fromDay;
  }
  if (range.toDay !== undefined) {
    window['$lt'] = range.toDay;
  }
  const filter: Filter<AlertEventDocument> =
    Object.keys(window).length === 0 ? { modelId } : { modelId, window };
  return db
    .collection<AlertEventDocument>(ALERT_COLLECTIONS.history)
    .find(filter)
    .sort({ at: 1, _id: 1 })
    .toArray();
}

/** Reads a model's accepted and overridden counts per UTC day in the range, oldest first. */
export async function readClinicianFeedback(
  db: Db,
  modelId: string,
  range: DayRange
): Promise<OverrideRate[]> {
  const lastDay =
    range.toDay === undefined
      ? undefined
      : new Date(Date.parse(`${range.toDay}T00:00:00Z`) - DAY_MS).toISOString().slice(0, 10);
  return readOverrideRates(db, {
    modelId,
    ...(range.fromDay === undefined ? {} : { fromDay: range.fromDay }),
    ...(lastDay === undefined ? {} : { toDay: lastDay }),
  });
}

/** Builds the `alert` part of one alert event. */
export function alertPart(event: AlertEventDocument): Part {
  return groupPart('alert', [
    stringPart('window', event.window),
    codePart('kind', event.kind),
    stringPart('ruleId', event.ruleId),
    stringPart('metric', event.metric),
    stringPart('subgroup', event.subgroup),
    codePart('direction', event.direction),
    ...decimalParts('threshold', event.threshold),
    ...decimalParts('value', event.value),
    integerPart('n', event.n),
    stringPart('responseOwner', event.response.owner),
    stringPart('responseAction', event.response.action),
    { name: 'recorded', valueDateTime: event.at.toISOString() },
  ]);
}

/** Builds the `feedback` part of one model's clinician responses on one day. */
export function feedbackPart(day: OverrideRate): Part {
  return groupPart('feedback', [
    stringPart('day', day.day),
    integerPart('accepted', day.accepted),
    integerPart('overridden', day.overridden),
    ...decimalParts('overrideRate', day.overrideRate),
  ]);
}
