/**
 * Monitoring alerts: the MongoDB collections and document shapes that the analyzers' alerts job writes and
 * that the compliance report and the SMART app read. One alert is open at most per rule, model and
 * subgroup; every opening, resolution and notification delivery is kept in the history.
 */
import type { Db } from 'mongodb';

/** MongoDB collections of the alerts. */
export const ALERT_COLLECTIONS = {
  /** Current state per rule, model and subgroup, see {@link AlertStateDocument}. */
  alerts: 'alerts',
  /** Append-only events, see {@link AlertEventDocument}. */
  history: 'alert_history',
  /** One document per notification attempt series, see {@link AlertDeliveryDocument}. */
  deliveries: 'alert_deliveries',
} as const;

/** Comparison that breaches a rule: `below` fires when the metric is under the threshold. */
export type AlertDirection = 'below' | 'above';

/** Documented response that a rule's alert requires from the compliance team. */
export interface AlertResponse {
  /** Role or body responsible for the response, such as `AI governance committee`. */
  owner: string;
  /** Required action, in the words of the organisation's procedure. */
  action: string;
}

/** State of one rule, model and subgroup in {@link ALERT_COLLECTIONS}.alerts. */
export interface AlertStateDocument {
  /** `{ruleId}|{modelId}|{subgroup}`, see {@link alertKey}. */
  _id: string;
  ruleId: string;
  modelId: string;
  subgroup: string;
  metric: string;
  status: 'open' | 'resolved';
  /** Incremented at each opening, so each episode has its own id `{_id}|{episode}`. */
  episode: number;
  openedAt: Date;
  /** Window whose value completed the run of breaching windows. */
  openedWindow: string;
  resolvedAt?: Date;
  resolvedWindow?: string;
  /** Metric value and sample size in the last evaluated window. */
  lastValue: number | null;
  lastN: number;
  /** Versionless reference of the Flag on the model Device, such as `Flag/42`. */
  flag?: string;
  response: AlertResponse;
  updatedAt: Date;
}

/** One alert event in {@link ALERT_COLLECTIONS}.history. */
export interface AlertEventDocument {
  /** `{alertKey}|{episode}|{kind}`, so a repeated evaluation records each event once. */
  _id: string;
  alertKey: string;
  episode: number;
  kind: 'opened' | 'resolved';
  ruleId: string;
  modelId: string;
  subgroup: string;
  metric: string;
  direction: AlertDirection;
  threshold: number;
  window: string;
  value: number | null;
  n: number;
  /** The windows whose values breached the rule, for an `opened` event. */
  breachingWindows: string[];
  response: AlertResponse;
  at: Date;
}

/** Notification channel of an alert event. */
export type AlertChannel = 'webhook' | 'email';

/** Outcome of one notification of one alert event in {@link ALERT_COLLECTIONS}.deliveries. */
export interface AlertDeliveryDocument {
  /** `{event _id}|{channel}`. */
  _id: string;
  eventId: string;
  channel: AlertChannel;
  status: 'delivered' | 'failed';
  attempts: number;
  /** HTTP status of the last webhook attempt, or the SMTP server's reply to the last email attempt. */
  lastResponse?: string;
  /** Message of the last error, when an attempt failed. */
  lastError?: string;
  updatedAt: Date;
}

/**
 * Builds the state key of a rule on a model and subgroup.
 * @returns `{ruleId}|{modelId}|{subgroup}`.
 */
export function alertKey(ruleId: string, modelId: string, subgroup: string): string {
  return `${ruleId}|${modelId}|${subgroup}`;
}

/**
 * Reads the alert history of a model for the compliance report, oldest first.
 * @param db - The MonitorMed database.
 * @param modelId - Model id, as in MODEL_ID_SYSTEM.
 */
export async function readAlertHistory(db: Db, modelId: string): Promise<AlertEventDocument[]> {
  return db
    .collection<AlertEventDocument>(ALERT_COLLECTIONS.history)
    .find({ modelId })
    .sort({ at: 1, _id: 1 })
    .toArray();
}
