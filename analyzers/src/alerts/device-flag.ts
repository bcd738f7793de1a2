/**
 * The alert Flag of a monitored model. R4 Flag.subject may not reference a Device
 * (https://hl7.org/fhir/R4/flag.html: Patient, Location, Group, Organization, Practitioner, PlanDefinition,
 * Medication or Procedure), so the Flag's subject is a device Group whose one member is the model Device,
 * and its author is the Device itself; a search `Flag?author=Device/<id>` finds a model's alerts.
 */
import type { Bundle, Device, Flag, Group } from '@medplum/fhirtypes';
import {
  AIAST,
  FLAG_ID_SYSTEM,
  MODEL_ID_SYSTEM,
  MONITORING_CODE_SYSTEM,
  buildModelDevice,
  modelDeviceQuery,
  type AiModelDefinition,
  type FhirClient,
} from '@monitormed/common';
import { createFlagIfAbsent, retireFlags, updateWithRetry } from '../fhir/gateway.js';
import type { AlertRule } from './rules.js';

/** Flag code of a monitoring alert on a model. */
export const MODEL_ALERT_CODE = {
  system: MONITORING_CODE_SYSTEM,
  code: 'model-alert',
  display: 'AI model monitoring alert',
} as const;

/** R4 flag-category code system. */
const FLAG_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/flag-category';

/** The model Device and its one-member Group. */
export interface ModelSubject {
  deviceId: string;
  groupId: string;
}

function firstId(bundle: Bundle): string | undefined {
  return bundle.entry?.[0]?.resource?.id;
}

/**
 * Finds the model's Device and Group, creating either when absent (conditional create, so concurrent jobs
 * create one each).
 */
export async function ensureModelSubject(
  client: FhirClient,
  model: AiModelDefinition
): Promise<ModelSubject> {
  const found = (await client.search({
    resourceType: 'Device',
    searchParams: { identifier: `${MODEL_ID_SYSTEM}|${model.modelId}` },
  })) as unknown as Bundle<Device>;
  let deviceId = firstId(found);
  if (deviceId === undefined) {
    const created = (await client.create({
      resourceType: 'Device',
      body: { ...buildModelDevice(model) },
      options: {
        headers: { 'If-None-Exist': modelDeviceQuery(model.modelId), Prefer: 'return=representation' },
      },
    })) as unknown as Partial<Device>;
    deviceId = created.id;
  }
  if (deviceId === undefined) {
    throw new Error(`HAPI returned no id for the Device of model ${model.modelId}.`);
  }

  const group: Group = {
    resourceType: 'Group',
    identifier: [{ system: MODEL_ID_SYSTEM, value: model.modelId }],
    type: 'device',
    actual: true,
    name: `Monitored AI model ${model.modelId}`,
    member: [{ entity: { reference: `Device/${deviceId}` } }],
  };
  const storedGroup = (await client.create({
    resourceType: 'Group',
    body: { ...group },
    options: {
      headers: {
        'If-None-Exist': `identifier=${MODEL_ID_SYSTEM}|${model.modelId}`,
        Prefer: 'return=representation',
      },
    },
  })) as unknown as Partial<Group>;
  if (storedGroup.id === undefined) {
    throw new Error(`HAPI returned no id for the Group of model ${model.modelId}.`);
  }
  return { deviceId, groupId: storedGroup.id };
}

/** Builds the Flag identifier value `{ruleId}|{modelId}|{subgroup}`, one Flag per alert key. */
export function alertFlagIdentifierToken(key: string): string {
  return `${FLAG_ID_SYSTEM}|${key.replaceAll('|', '\\|')}`;
}

/**
 * Builds the alert Flag of a rule on a subgroup.
 * @param key - The alert key `{ruleId}|{modelId}|{subgroup}`.
 * @param openedAt - When the alert opened, the Flag's period start.
 */
export function buildModelAlertFlag(
  subject: ModelSubject,
  rule: AlertRule,
  subgroup: string,
  key: string,
  openedAt: Date
): Flag {
  return {
    resourceType: 'Flag',
    meta: { security: [AIAST] },
    identifier: [{ system: FLAG_ID_SYSTEM, value: key }],
    status: 'active',
    category: [{ coding: [{ system: FLAG_CATEGORY_SYSTEM, code: 'safety', display: 'Safety' }] }],
    code: {
      coding: [MODEL_ALERT_CODE],
      text: `${rule.metric} ${rule.direction} ${String(rule.threshold)} in subgroup ${subgroup}; ${rule.response.owner}: ${rule.response.action}`,
    },
    subject: { reference: `Group/${subject.groupId}` },
    author: { reference: `Device/${subject.deviceId}` },
    period: { start: openedAt.toISOString() },
  };
}

/**
 * Creates the alert Flag, or sets an existing one of the same key back to active with a new period.
 * @returns `Flag/<id>`.
 */
export async function raiseModelAlertFlag(client: FhirClient, flag: Flag, key: string): Promise<string> {
  const id = await createFlagIfAbsent(
    client,
    flag,
    `identifier=${encodeURIComponent(alertFlagIdentifierToken(key))}`
  );
  if (id === undefined) {
    throw new Error(`HAPI returned no id for the alert Flag ${key}.`);
  }

  // A Flag of an earlier, resolved episode is reused: conditional create returned it unchanged.
  await updateWithRetry<Flag>(client, 'Flag', id, (current) =>
    current.status === 'active' ? undefined : { ...current, status: 'active', period: flag.period }
  );
  return `Flag/${id}`;
}

/**
 * Sets the alert Flag of `key` to inactive with a period end.
 * @returns The number of Flags set inactive.
 */
export function clearModelAlertFlag(client: FhirClient, key: string): Promise<number> {
  return retireFlags(client, alertFlagIdentifierToken(key));
}
