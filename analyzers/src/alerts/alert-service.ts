/**
 * Alert evaluation of the alerts job, run after a window's metrics are written. One alert opens per rule,
 * model and subgroup after k breaching windows, and it resolves when the metric recovers. Each opening and
 * resolution sets the model's alert Flag in FHIR, posts a signed webhook and sends an email. MongoDB keeps
 * the event and each delivery.
 */
import {
  ALERT_COLLECTIONS,
  COLLECTIONS,
  alertKey,
  type AiModelDefinition,
  type AlertDeliveryDocument,
  type AlertEventDocument,
  type AlertStateDocument,
  type FhirClient,
  type Logger,
} from '@monitormed/common';
import { MongoServerError, type Collection, type Db } from 'mongodb';
import {
  buildModelAlertFlag,
  clearModelAlertFlag,
  ensureModelSubject,
  raiseModelAlertFlag,
} from './device-flag.js';
import { sendAlertEmail } from './email.js';
import { decideRule, type MetricPoint, type RuleDecision } from './evaluate-rule.js';
import type { NotificationSettings } from './notification-settings.js';
import type { AlertRule } from './rules.js';
import { deliverWebhook, type DeliveryOutcome } from './webhook.js';

/** Dependencies of the alerts job. */
export interface AlertServiceDeps {
  db: Db;
  fhir: FhirClient;
  rules: readonly AlertRule[];
  models: readonly AiModelDefinition[];
  notifications: NotificationSettings;
  log: Logger;
}

/** Result of one rule on one subgroup in one evaluation. */
export interface RuleOutcome {
  ruleId: string;
  subgroup: string;
  decision: RuleDecision['action'];
  verdict: RuleDecision['verdict'];
}

/** Metric document fields the alerts job reads. */
interface MetricRow {
  window: string;
  value: number | null;
  n: number;
  lower?: number | null;
  upper?: number | null;
}

const DUPLICATE_KEY = 11000;

/** Evaluates alert rules and carries out their outputs. */
export class AlertService {
  private readonly states: Collection<AlertStateDocument>;
  private readonly history: Collection<AlertEventDocument>;
  private readonly deliveries: Collection<AlertDeliveryDocument>;

  constructor(private readonly deps: AlertServiceDeps) {
    this.states = deps.db.collection<AlertStateDocument>(ALERT_COLLECTIONS.alerts);
    this.history = deps.db.collection<AlertEventDocument>(ALERT_COLLECTIONS.history);
    this.deliveries = deps.db.collection<AlertDeliveryDocument>(ALERT_COLLECTIONS.deliveries);
  }

  /**
   * Evaluates every rule of `modelId` on the windows up to `window`. Safe to rerun: transitions are
   * conditional updates, and an event whose Flag or notifications did not finish is completed on rerun.
   */
  async evaluate(modelId: string, window: string): Promise<RuleOutcome[]> {
    const model = this.deps.models.find((candidate) => candidate.modelId === modelId);
    if (model === undefined) {
      throw new Error(`Model ${modelId} is not in the model catalog; add it or remove its alert rules.`);
    }

    const outcomes: RuleOutcome[] = [];
    for (const rule of this.deps.rules.filter((candidate) => candidate.modelId === modelId)) {
      for (const subgroup of rule.subgroups) {
        outcomes.push(await this.evaluateSubgroup(model, rule, subgroup, window));
      }
    }
    return outcomes;
  }

  private async readSeries(
    model: AiModelDefinition,
    rule: AlertRule,
    subgroup: string,
    window: string
  ): Promise<MetricPoint[]> {
    // Newest first, as many windows as a run needs; day keys sort as dates.
    const rows = await this.deps.db
      .collection<MetricRow & { modelId: string }>(COLLECTIONS.metrics)
      .find(
        {
          modelId: model.modelId,
          modelVersion: model.version,
          metric: rule.metric,
          subgroup,
          granularity: 'day',
          window: { $lte: window },
        },
        { projection: { _id: 0, window: 1, value: 1, n: 1, lower: 1, upper: 1 } }
      )
      .sort({ window: -1 })
      .limit(rule.consecutiveWindows)
      .toArray();
    if (rows[0]?.window !== window) {
      // No metric for the evaluated window: nothing new to decide.
      return [];
    }
    return rows.reverse().map((row) => ({
      window: row.window,
      value: row.value,
      n: row.n,
      lower: row.lower ?? null,
      upper: row.upper ?? null,
    }));
  }

  private async evaluateSubgroup(
    model: AiModelDefinition,
    rule: AlertRule,
    subgroup: string,
    window: string
  ): Promise<RuleOutcome> {
    const key = alertKey(rule.ruleId, model.modelId, subgroup);
    const series = await this.readSeries(model, rule, subgroup, window);
    const state = await this.states.findOne({ _id: key });
    const decision = decideRule(rule, series, state?.status === 'open');
    const outcome: RuleOutcome = {
      ruleId: rule.ruleId,
      subgroup,
      decision: decision.action,
      verdict: decision.verdict,
    };

    if (decision.action === 'open' && decision.last !== undefined) {
      await this.open(model, rule, subgroup, key, decision.last, decision.breachingWindows);
    } else if (decision.action === 'resolve' && decision.last !== undefined && state !== null) {
      await this.resolve(rule, key, state.episode, decision.last);
    }

    // Complete the latest event's outputs, also when an earlier run stopped half-way.
    const current = await this.states.findOne({ _id: key });
    if (current !== null) {
      await this.completeEvent(model, rule, current);
    }
    return outcome;
  }

  private async open(
    model: AiModelDefinition,
    rule: AlertRule,
    subgroup: string,
    key: string,
    last: MetricPoint,
    breachingWindows: string[]
  ): Promise<void> {
    const now = new Date();
    try {
      // Matches only a resolved state; a concurrent opening makes the upsert fail on the unique _id.
      await this.states.updateOne(
        { _id: key, status: { $ne: 'open' } },
        {
          $set: {
            ruleId: rule.ruleId,
            modelId: model.modelId,
            subgroup,
            metric: rule.metric,
            status: 'open',
            openedAt: now,
            openedWindow: last.window,
            lastValue: last.value,
            lastN: last.n,
            response: rule.response,
            updatedAt: now,
          },
          $unset: { resolvedAt: '', resolvedWindow: '' },
          $inc: { episode: 1 },
        },
        { upsert: true }
      );
    } catch (err) {
      if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) {
        return;
      }
      throw err;
    }

    const state = await this.states.findOne({ _id: key });
    if (state === null) {
      throw new Error(`Alert state ${key} vanished after it was opened.`);
    }
    await this.recordEvent(rule, state, 'opened', last, breachingWindows, now);
    this.deps.log.warn(
      { alertKey: key, episode: state.episode, window: last.window, n: last.n },
      'Alert opened'
    );
  }

  private async resolve(rule: AlertRule, key: string, episode: number, last: MetricPoint): Promise<void> {
    const now = new Date();
    const result = await this.states.updateOne(
      { _id: key, status: 'open', episode },
      {
        $set: {
          status: 'resolved',
          resolvedAt: now,
          resolvedWindow: last.window,
          lastValue: last.value,
          lastN: last.n,
          updatedAt: now,
        },
      }
    );
    if (result.modifiedCount === 0) {
      return;
    }
    const state = await this.states.findOne({ _id: key });
    if (state !== null) {
      await this.recordEvent(rule, state, 'resolved', last, [], now);
      this.deps.log.info({ alertKey: key, episode, window: last.window, n: last.n }, 'Alert resolved');
    }
  }

  private async recordEvent(
    rule: AlertRule,
    state: AlertStateDocument,
    kind: AlertEventDocument['kind'],
    last: MetricPoint,
    breachingWindows: string[],
    at: Date
  ): Promise<void> {
    const event: AlertEventDocument = {
      _id: `${state._id}|${String(state.episode)}|${kind}`,
      alertKey: state._id,
      episode: state.episode,
      kind,
      ruleId: rule.ruleId,
      modelId: state.modelId,
      subgroup: state.subgroup,
      metric: rule.metric,
      direction: rule.direction,
      threshold: rule.threshold,
      window: last.window,
      value: last.value,
      n: last.n,
      breachingWindows,
      response: rule.response,
      at,
    };
    // insertOne, because FerretDB 1.24 drops empty arrays from an upsert's $setOnInsert. A duplicate key
    // means a rerun already recorded this event.
    try {
      await this.history.insertOne(event);
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) {
        throw err;
      }
    }
  }

  /** Brings the Flag and the notifications of the state's latest event up to date; each step is idempotent. */
  private async completeEvent(
    model: AiModelDefinition,
    rule: AlertRule,
    state: AlertStateDocument
  ): Promise<void> {
    const kind = state.status === 'open' ? 'opened' : 'resolved';
    const event = await this.history.findOne({ _id: `${state._id}|${String(state.episode)}|${kind}` });
    if (event === null) {
      return;
    }

    if (state.status === 'open' && state.flag === undefined) {
      const subject = await ensureModelSubject(this.deps.fhir, model);
      const flag = buildModelAlertFlag(subject, rule, state.subgroup, state._id, state.openedAt);
      const reference = await raiseModelAlertFlag(this.deps.fhir, flag, state._id);
      await this.states.updateOne({ _id: state._id, episode: state.episode }, { $set: { flag: reference } });
    } else if (state.status === 'resolved' && state.flag !== undefined) {
      await clearModelAlertFlag(this.deps.fhir, state._id);
      await this.states.updateOne(
        { _id: state._id, episode: state.episode, status: 'resolved' },
        { $unset: { flag: '' } }
      );
    }

    const flag = (await this.states.findOne({ _id: state._id }))?.flag ?? state.flag;
    await this.notify(event, flag);
  }

  private async notify(event: AlertEventDocument, flag: string | undefined): Promise<void> {
    const { webhook, email } = this.deps.notifications;
    const payload = { type: `alert.${event.kind}`, eventId: event._id, ...event, flag };

    if (webhook !== undefined) {
      await this.deliverOnce(event._id, 'webhook', () => deliverWebhook(webhook, payload));
    }
    if (email !== undefined) {
      await this.deliverOnce(event._id, 'email', () =>
        sendAlertEmail(email, {
          subject: `[MonitorMed] Alert ${event.kind}: ${event.ruleId} on ${event.modelId} (${event.subgroup})`,
          text: [
            `Alert ${event.kind} for model ${event.modelId}, subgroup ${event.subgroup}.`,
            `Rule ${event.ruleId}: ${event.metric} ${event.direction} ${String(event.threshold)}.`,
            `Window ${event.window}: value ${String(event.value)} from n = ${String(event.n)} results.`,
            event.breachingWindows.length > 0
              ? `Breaching windows: ${event.breachingWindows.join(', ')}.`
              : '',
            `Responsible: ${event.response.owner}.`,
            `Required response: ${event.response.action}`,
            flag === undefined ? '' : `FHIR Flag: ${flag}.`,
          ]
            .filter((line) => line !== '')
            .join('\n'),
          messageId: `<${encodeURIComponent(event._id)}@monitormed.invalid>`,
        })
      );
    }
  }

  /** Runs a delivery unless it already succeeded, and records its outcome. */
  private async deliverOnce(
    eventId: string,
    channel: AlertDeliveryDocument['channel'],
    send: () => Promise<DeliveryOutcome>
  ): Promise<void> {
    const _id = `${eventId}|${channel}`;
    const previous = await this.deliveries.findOne({ _id });
    if (previous?.status === 'delivered') {
      return;
    }

    const outcome = await send();
    const fields: Omit<AlertDeliveryDocument, '_id'> = {
      eventId,
      channel,
      status: outcome.delivered ? 'delivered' : 'failed',
      attempts: (previous?.attempts ?? 0) + outcome.attempts,
      updatedAt: new Date(),
      ...(outcome.lastResponse === undefined ? {} : { lastResponse: outcome.lastResponse }),
      ...(outcome.lastError === undefined ? {} : { lastError: outcome.lastError }),
    };
    await this.deliveries.updateOne({ _id }, { $set: fields }, { upsert: true });
    if (!outcome.delivered) {
      // The next evaluation of this model retries it.
      this.deps.log.error(
        { eventId, channel, attempts: outcome.attempts, error: outcome.lastError },
        'Alert delivery failed'
      );
    }
  }
}
