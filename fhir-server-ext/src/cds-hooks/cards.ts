/**
 * Turns a patient's monitoring Flags into CDS Hooks cards, one per flagged AI result, each with the
 * record that later attributes feedback on the card to its Flags and model.
 */
import { randomUUID } from 'node:crypto';
import type { Device, Flag, Observation } from '@medplum/fhirtypes';
import { readUncertainty } from '@monitormed/analyzers';
import {
  AI_CONFIDENCE_EXTENSION,
  DRIFT_EXTENSION,
  FLAG_CODES,
  MODEL_ID_SYSTEM,
  UNCERTAINTY_EXTENSION,
  type AiModelDefinition,
} from '@monitormed/common';
import { flaggedObservationId, type PatientAiData } from './patient-data.js';
import { CARD_TOPIC, OVERRIDE_REASONS } from './service-definition.js';
import type { CdsCard, CdsIndicator } from './types.js';

/**
 * Indicator of a card with a single flag code. Each flag alone means the result may be wrong but the
 * model's call can still be checked, hence `warning`. A result with both flags gets `critical` (see
 * {@link indicatorFor}), and a MonitorMed code missing here gets `info`.
 */
export const INDICATOR_BY_FLAG_CODE: Readonly<Record<string, CdsIndicator>> = {
  [FLAG_CODES.highUncertainty.code]: 'warning',
  [FLAG_CODES.modelDrift.code]: 'warning',
};

/** CDS Hooks limit: the summary has fewer than 140 characters. */
export const MAX_SUMMARY_LENGTH = 139;

/** Attribution record of an issued card: the Observation, Flags and model it is about. */
export interface CardRecord {
  /** The card's uuid. */
  _id: string;
  serviceId: string;
  hookInstance: string;
  /** Uuid of the card's one suggestion, which `accepted` feedback names. */
  suggestionUuid: string;
  observationId: string;
  flagIds: string[];
  flagCodes: string[];
  /** Model id in MODEL_ID_SYSTEM, or null when neither the Device nor the catalog names it. */
  modelId: string | null;
  indicator: CdsIndicator;
  issuedAt: Date;
}

/** A card and its record. */
export interface IssuedCard {
  card: CdsCard;
  record: CardRecord;
}

/** Settings of the cards. */
export interface CardOptions {
  serviceId: string;
  hookInstance: string;
  /** SMART App Launch URL of the MonitorMed app. */
  smartLaunchUrl: string;
  /** Page about MonitorMed, for `source.url`. */
  sourceUrl: string;
  /** Model catalog, used when a result names no Device the service could read. */
  catalog: readonly AiModelDefinition[];
}

/**
 * Chooses a card's indicator from the codes of its result's flags.
 * @param flagCodes - Distinct flag codes on one result.
 * @returns `critical` when the result is both uncertain and from a drifting model, otherwise the highest
 *   indicator of {@link INDICATOR_BY_FLAG_CODE}, `info` for unknown codes.
 */
export function indicatorFor(flagCodes: readonly string[]): CdsIndicator {
  if (flagCodes.includes(FLAG_CODES.highUncertainty.code) && flagCodes.includes(FLAG_CODES.modelDrift.code)) {
    return 'critical';
  }
  const ranks: CdsIndicator[] = ['info', 'warning', 'critical'];
  const rank = Math.max(0, ...flagCodes.map((code) => ranks.indexOf(INDICATOR_BY_FLAG_CODE[code] ?? 'info')));
  return ranks[rank] ?? 'info';
}

/**
 * Builds one card per flagged AI result, ordered by indicator (critical first).
 * @param data - The patient's flags, results and Devices.
 * @param options - Service, links and catalog.
 */
export function buildCards(data: PatientAiData, options: CardOptions): IssuedCard[] {
  const flagsByObservation = new Map<string, Flag[]>();
  for (const flag of data.flags) {
    const observationId = flaggedObservationId(flag);
    if (observationId !== undefined) {
      flagsByObservation.set(observationId, [...(flagsByObservation.get(observationId) ?? []), flag]);
    }
  }

  const cards = [...flagsByObservation].map(([observationId, flags]) =>
    buildCard(observationId, flags, data, options)
  );
  const order: CdsIndicator[] = ['critical', 'warning', 'info'];
  return cards.sort((a, b) => order.indexOf(a.card.indicator) - order.indexOf(b.card.indicator));
}

interface ModelFacts {
  modelId: string | undefined;
  name: string;
  version: string | undefined;
}

function buildCard(
  observationId: string,
  flags: Flag[],
  data: PatientAiData,
  options: CardOptions
): IssuedCard {
  const observation = data.observations.get(observationId);
  const model = describeModel(observation, data.devices, options.catalog);
  const flagCodes = [...new Set(flags.flatMap((flag) => flagCode(flag)))];
  const indicator = indicatorFor(flagCodes);
  const uuid = randomUUID();
  const suggestionUuid = randomUUID();
  const flagIds = flags.flatMap((flag) => (flag.id === undefined ? [] : [flag.id]));

  const card: CdsCard = {
    uuid,
    summary: buildSummary(model.name, flags),
    detail: buildDetail(observationId, observation, model, flags),
    indicator,
    source: { label: 'MonitorMed AI monitoring', url: options.sourceUrl, topic: CARD_TOPIC },
    suggestions: [
      {
        label: 'Confirm this AI result independently before acting on it',
        uuid: suggestionUuid,
        isRecommended: true,
      },
    ],
    selectionBehavior: 'at-most-one',
    overrideReasons: OVERRIDE_REASONS,
    links: [
      {
        label: 'Review in MonitorMed',
        url: options.smartLaunchUrl,
        type: 'smart',
        appContext: JSON.stringify({
          observation: `Observation/${observationId}`,
          flags: flagIds.map((id) => `Flag/${id}`),
          ...(model.modelId === undefined ? {} : { modelId: model.modelId }),
        }),
      },
    ],
  };

  const record: CardRecord = {
    _id: uuid,
    serviceId: options.serviceId,
    hookInstance: options.hookInstance,
    suggestionUuid,
    observationId,
    flagIds,
    flagCodes,
    modelId: model.modelId ?? null,
    indicator,
    issuedAt: new Date(),
  };
  return { card, record };
}

function flagCode(flag: Flag): string[] {
  return (flag.code.coding ?? []).flatMap((coding) => (coding.code === undefined ? [] : [coding.code]));
}

function describeModel(
  observation: Observation | undefined,
  devices: Map<string, Device>,
  catalog: readonly AiModelDefinition[]
): ModelFacts {
  const deviceId = /^Device\/(.+)$/.exec(observation?.device?.reference ?? '')?.[1];
  const device = deviceId === undefined ? undefined : devices.get(deviceId);
  const fromDevice = device?.identifier?.find((identifier) => identifier.system === MODEL_ID_SYSTEM)?.value;

  // Without the Device, the catalog recognises the model by its output code.
  const codes = observation?.code.coding ?? [];
  const entry = catalog.find(
    (model) =>
      model.modelId === fromDevice ||
      codes.some(
        (coding) => coding.system === model.outputCode.system && coding.code === model.outputCode.code
      )
  );

  return {
    modelId: fromDevice ?? entry?.modelId,
    name: device?.deviceName?.[0]?.name ?? entry?.name ?? 'AI model',
    version: device?.version?.[0]?.value ?? entry?.version,
  };
}

function reasonPhrase(code: string): string {
  if (code === FLAG_CODES.highUncertainty.code) {
    return 'high uncertainty';
  }
  if (code === FLAG_CODES.modelDrift.code) {
    return 'model drift';
  }
  return code;
}

function buildSummary(modelName: string, flags: Flag[]): string {
  const reasons = [...new Set(flags.flatMap(flagCode))].map(reasonPhrase).join(' and ');
  const tail = ` result flagged for ${reasons}; confirm before use`;

  // Shorten the model name first, so that the reasons always fit.
  const room = MAX_SUMMARY_LENGTH - tail.length;
  const name = modelName.length <= room ? modelName : `${modelName.slice(0, Math.max(0, room - 1))}…`;
  const summary = `${name}${tail}`;
  return summary.length <= MAX_SUMMARY_LENGTH ? summary : `${summary.slice(0, MAX_SUMMARY_LENGTH - 1)}…`;
}

function subExtension(
  observation: Observation | undefined,
  url: string,
  part: string
): string | number | boolean | undefined {
  const parent = observation?.extension?.find((extension) => extension.url === url);
  const sub = parent?.extension?.find((extension) => extension.url === part);
  return sub?.valueDecimal ?? sub?.valueCode ?? sub?.valueString ?? sub?.valueBoolean;
}

function buildDetail(
  observationId: string,
  observation: Observation | undefined,
  model: ModelFacts,
  flags: Flag[]
): string {
  const modelLine = [
    model.name,
    model.modelId === undefined ? undefined : `\`${model.modelId}\``,
    model.version === undefined ? undefined : `version ${model.version}`,
  ]
    .filter((part) => part !== undefined)
    .join(', ');
  const lines = [`**Model:** ${modelLine}`];

  if (observation === undefined) {
    lines.push(`**Result:** Observation/${observationId} could not be read, so its numbers are not shown.`);
  } else {
    lines.push(...resultLines(observation));
  }

  lines.push('', '**Why flagged:**');
  for (const code of [...new Set(flags.flatMap(flagCode))]) {
    lines.push(`- ${whyFlagged(code, observation)}`);
  }
  lines.push(
    '',
    'MonitorMed monitors the AI model, not the patient: treat this AI result as unreliable and confirm it with other findings.'
  );
  return lines.join('\n');
}

function resultLines(observation: Observation): string[] {
  const value = observation.valueQuantity?.value;
  const interpretation = observation.interpretation?.[0]?.coding?.[0]?.code;
  const confidence = observation.extension?.find(
    (extension) => extension.url === AI_CONFIDENCE_EXTENSION
  )?.valueDecimal;
  const entropy = subExtension(observation, UNCERTAINTY_EXTENSION, 'value');
  const drift = subExtension(observation, DRIFT_EXTENSION, 'detected');

  const call = describeInterpretation(interpretation);
  const result = [
    value === undefined ? 'no value' : `probability ${value.toFixed(3)}`,
    call === undefined ? '' : ` (${call})`,
    observation.effectiveDateTime === undefined ? '' : `, produced ${observation.effectiveDateTime}`,
  ].join('');
  const uncertainty =
    typeof entropy === 'number'
      ? `${entropy.toFixed(3)} bits of predictive entropy (1 bit is a coin toss)`
      : 'not computed yet';

  const lines = [
    `**Result:** ${result}`,
    `**Model confidence:** ${confidence === undefined ? 'not reported' : `${(confidence * 100).toFixed(1)} %`}`,
    `**Uncertainty:** ${uncertainty}`,
  ];

  if (drift === undefined) {
    lines.push('**Drift:** not evaluated yet for this window');
  } else {
    const statistic = subExtension(observation, DRIFT_EXTENSION, 'statistic');
    const pValue = subExtension(observation, DRIFT_EXTENSION, 'pValue');
    const threshold = subExtension(observation, DRIFT_EXTENSION, 'threshold');
    const window = subExtension(observation, DRIFT_EXTENSION, 'window');
    lines.push(
      `**Drift:** ${drift === true ? 'detected' : 'not detected'} in window ${String(window)} ` +
        `(KS statistic ${formatNumber(statistic)}, p = ${formatNumber(pValue)}, threshold ${formatNumber(threshold)})`
    );
  }
  return lines.map((line, index) => (index < lines.length - 1 ? `${line}  ` : line));
}

function describeInterpretation(code: string | undefined): string | undefined {
  if (code === 'POS') {
    return 'positive';
  }
  if (code === 'NEG') {
    return 'negative';
  }
  return code;
}

function formatNumber(value: string | number | boolean | undefined): string {
  return typeof value === 'number' ? value.toPrecision(3) : 'unknown';
}

/** Names the rules that raised the high-uncertainty Flag, with their numbers when the analyzers recorded them. */
function uncertaintyRuleText(observation: Observation | undefined): string {
  const nearHalf =
    'so the score is near 0.5 and gives little support to either a positive or a negative call.';
  const recorded = readUncertainty(observation?.extension);
  const rules = recorded?.rules;
  if (recorded === undefined || rules === undefined) {
    return `the score's predictive entropy reached the analyzers' threshold, ${nearHalf}`;
  }

  const entropy = `predictive entropy ${formatNumber(recorded.entropyBits)} bits`;
  const entropyLimit = `threshold ${formatNumber(rules.entropyThresholdBits)} bits`;
  const margin = `margin |2p − 1| ${formatNumber(recorded.margin)}`;
  const marginLimit = `width ${formatNumber(rules.marginWidth)}`;
  const fired: string[] = [];
  if (rules.flaggedBy.includes('entropy')) {
    fired.push(`the ${entropy} reached the ${entropyLimit}`);
  }
  if (rules.flaggedBy.includes('margin')) {
    fired.push(`the ${margin} is below the ${marginLimit}`);
  }
  if (fired.length === 0) {
    return `raised by an earlier analysis. The latest analysis found ${entropy} (${entropyLimit}) and ${margin} (${marginLimit}).`;
  }
  return `${fired.join(' and ')}, ${nearHalf}`;
}

function whyFlagged(code: string, observation: Observation | undefined): string {
  if (code === FLAG_CODES.highUncertainty.code) {
    return `High uncertainty: ${uncertaintyRuleText(observation)}`;
  }
  if (code === FLAG_CODES.modelDrift.code) {
    const window = subExtension(observation, DRIFT_EXTENSION, 'window');
    return (
      `Model drift: the model's scores${window === undefined ? '' : ` on ${String(window)} (UTC)`} differ from its reference ` +
      'distribution, so its accuracy there is not established.'
    );
  }
  return `Monitoring flag \`${code}\`.`;
}
