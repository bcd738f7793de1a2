/**
 * `Flag/{id}/$respond`: a clinician acknowledges or overrides a monitoring Flag with a reason. The
 * response is recorded on the Flag (an extension, and status inactive for an override) and as an AI
 * Provenance whose Humanagent is the clinician. It is counted once per Flag in the model's override-rate
 * rollup, which CDS Hooks feedback also feeds, so both count in one rate.
 */
import type {
  Coding,
  Device,
  Extension,
  Flag,
  Observation,
  Parameters,
  Provenance,
} from '@medplum/fhirtypes';
import {
  AI_AGENT_ROLE,
  AIAST,
  FLAG_DETAIL_EXTENSION,
  FLAG_RESPONSE_EXTENSION,
  FLAG_RESPONSE_REASON_SYSTEM,
  FLAG_RESPONSE_REASONS,
  FLAG_RESPONSES,
  type FlagResponseCode,
  hasAiLabel,
  MODEL_ID_SYSTEM,
  MONITORMED_BASE,
  PROVENANCE_AUTHOR,
} from '@monitormed/common';
import type { Request } from 'express';
import type { Db } from 'mongodb';
import type { AccessToken } from '../auth/token-verifier.js';
import { recordFeedback, type FeedbackDocument } from '../cds-hooks/card-store.js';
import { mayShow, readOutsideScope } from '../proxy/access.js';
import { ForbiddenError } from '../proxy/forbidden-error.js';
import { UpstreamError } from '../proxy/upstream-error.js';
import { callFhir, readResource, type FhirTarget } from './fhir-reads.js';
import { FlagConflictError } from './flag-conflict-error.js';
import { OperationInputError } from './operation-input-error.js';
import { OperationNotFoundError } from './operation-not-found-error.js';
import { codePart, stringPart, toParameters } from './parameters.js';

/** Tag system of the response Provenance; the code is the Flag id, so a repeated response finds it. */
export const FLAG_RESPONSE_ID_SYSTEM = `${MONITORMED_BASE}/sid/flag-response`;

const REASON_CODES: readonly string[] = FLAG_RESPONSE_REASONS.map((reason) => reason.code);

/** A response as posted. */
export interface FlagResponseInput {
  response: FlagResponseCode;
  reason: Coding | undefined;
  comment: string | undefined;
}

/** The verifier participant type: the clinician reviewed the AI result and its Flag. */
const PROVENANCE_VERIFIER: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
  code: 'verifier',
  display: 'Verifier',
};

const AI_PROVENANCE_PROFILE = 'http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Provenance';

/**
 * Reads the POST Parameters body of $respond.
 * @throws OperationInputError on a GET, an unknown or repeated parameter, an unknown response or
 *   reason code, or an override without a reason.
 */
export function readResponseInput(req: Request): FlagResponseInput {
  const body = req.body as Partial<Parameters> | undefined;
  if (req.method !== 'POST' || body?.resourceType !== 'Parameters') {
    throw new OperationInputError(
      'body',
      '$respond changes the Flag, so it takes POST with a FHIR Parameters body sent as application/fhir+json.'
    );
  }

  const seen = new Set<string>();
  let response: string | undefined;
  let reason: Coding | undefined;
  let comment: string | undefined;
  for (const parameter of body.parameter ?? []) {
    if (seen.has(parameter.name)) {
      throw new OperationInputError(
        parameter.name,
        `Parameter '${parameter.name}' is repeated; send it once.`
      );
    }
    seen.add(parameter.name);
    if (parameter.name === 'response') {
      response = parameter.valueCode;
    } else if (parameter.name === 'reason') {
      reason =
        parameter.valueCoding ??
        (parameter.valueCode === undefined ? undefined : { code: parameter.valueCode });
    } else if (parameter.name === 'comment') {
      comment = parameter.valueString;
    } else {
      throw new OperationInputError(
        parameter.name,
        `Parameter '${parameter.name}' is not defined for $respond; use response, reason or comment.`
      );
    }
  }

  const choice = FLAG_RESPONSES.find((candidate) => candidate === response);
  if (choice === undefined) {
    throw new OperationInputError(
      'response',
      `Parameter 'response' must be a valueCode, one of: ${FLAG_RESPONSES.join(', ')}; it was ${JSON.stringify(response ?? null)}.`
    );
  }
  if (reason !== undefined) {
    const system = reason.system ?? FLAG_RESPONSE_REASON_SYSTEM;
    const code = REASON_CODES.find((candidate) => candidate === reason?.code);
    if (system !== FLAG_RESPONSE_REASON_SYSTEM || code === undefined) {
      throw new OperationInputError(
        'reason',
        `Parameter 'reason' must be a Coding in ${FLAG_RESPONSE_REASON_SYSTEM} with one of the codes ${REASON_CODES.join(', ')}.`
      );
    }
    reason = { system, code, ...(reason.display === undefined ? {} : { display: reason.display }) };
  }
  if (choice === 'override' && reason === undefined) {
    throw new OperationInputError('reason', 'An override needs a reason: add a reason Coding.');
  }
  if (comment?.trim() === '') {
    comment = undefined;
  }
  return { response: choice, reason, comment };
}

/** The response recorded on a Flag. */
export interface RecordedResponse {
  response: FlagResponseCode;
  reason: Coding | undefined;
  comment: string | undefined;
  author: string;
  time: string;
}

function recordedResponse(flag: Flag): RecordedResponse | undefined {
  const extension = flag.extension?.find((candidate) => candidate.url === FLAG_RESPONSE_EXTENSION);
  const part = (url: string): Extension | undefined => extension?.extension?.find((sub) => sub.url === url);
  const response = FLAG_RESPONSES.find((candidate) => candidate === part('response')?.valueCode);
  const author = part('author')?.valueReference?.reference;
  const time = part('time')?.valueDateTime;
  if (response === undefined || author === undefined || time === undefined) {
    return undefined;
  }
  return {
    response,
    reason: part('reason')?.valueCoding,
    comment: part('comment')?.valueString,
    author,
    time,
  };
}

function responseExtension(recorded: RecordedResponse): Extension {
  return {
    url: FLAG_RESPONSE_EXTENSION,
    extension: [
      { url: 'response', valueCode: recorded.response },
      ...(recorded.reason === undefined ? [] : [{ url: 'reason', valueCoding: recorded.reason }]),
      ...(recorded.comment === undefined ? [] : [{ url: 'comment', valueString: recorded.comment }]),
      { url: 'author', valueReference: { reference: recorded.author } },
      { url: 'time', valueDateTime: recorded.time },
    ],
  };
}

/** Reads the Flag's AI result and the model id of the result's Device; missing links give undefined. */
async function flagModel(
  target: FhirTarget,
  flag: Flag
): Promise<{ observationId: string | undefined; deviceId: string | undefined; modelId: string | undefined }> {
  const detail = flag.extension?.find((candidate) => candidate.url === FLAG_DETAIL_EXTENSION);
  const observationId = /(?:^|\/)Observation\/([^/]+)$/.exec(detail?.valueReference?.reference ?? '')?.[1];
  const observation =
    observationId === undefined
      ? undefined
      : await readResource<Observation>(target, 'Observation', observationId);
  const deviceId = /(?:^|\/)Device\/([^/]+)$/.exec(observation?.device?.reference ?? '')?.[1];
  const device = deviceId === undefined ? undefined : await readResource<Device>(target, 'Device', deviceId);
  const modelId = device?.identifier?.find((identifier) => identifier.system === MODEL_ID_SYSTEM)?.value;
  return { observationId, deviceId, modelId };
}

/**
 * Builds the response Provenance. It follows the AI Provenance profile of the AI Transparency IG 1.0.0:
 * reason AIAST, the model Device as AIagent, and the clinician as Humanagent with type verifier.
 */
function buildProvenance(
  flagId: string,
  observationId: string | undefined,
  deviceId: string | undefined,
  recorded: RecordedResponse
): Provenance {
  return {
    resourceType: 'Provenance',
    meta: { profile: deviceId === undefined ? [] : [AI_PROVENANCE_PROFILE], security: [AIAST] },
    target: [
      { reference: `Flag/${flagId}` },
      ...(observationId === undefined ? [] : [{ reference: `Observation/${observationId}` }]),
    ],
    occurredDateTime: recorded.time,
    recorded: recorded.time,
    reason: [
      { coding: [AIAST] },
      ...(recorded.reason === undefined
        ? []
        : [
            {
              coding: [recorded.reason],
              ...(recorded.comment === undefined ? {} : { text: recorded.comment }),
            },
          ]),
    ],
    activity: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE' }],
      text:
        recorded.response === 'override'
          ? 'Clinician overrode the AI result Flag'
          : 'Clinician acknowledged the AI result Flag',
    },
    agent: [
      ...(deviceId === undefined
        ? []
        : [
            {
              type: { coding: [PROVENANCE_AUTHOR] },
              role: [{ coding: [AI_AGENT_ROLE] }],
              who: { reference: `Device/${deviceId}` },
            },
          ]),
      { type: { coding: [PROVENANCE_VERIFIER] }, who: { reference: recorded.author } },
    ],
  };
}

/**
 * Runs $respond on a Flag: checks access, records the response on the Flag with If-Match, creates the
 * Provenance once (conditional create on its tag) and counts the response once. Each step can be
 * repeated, so posting the same response again completes a response interrupted between steps.
 * @throws OperationNotFoundError, OperationInputError, ForbiddenError, FlagConflictError or UpstreamError.
 */
export async function respondToFlag(
  target: FhirTarget,
  db: Db,
  token: AccessToken,
  flagId: string,
  input: FlagResponseInput,
  now: Date
): Promise<{ parameters: Parameters; patient: string | undefined }> {
  const flag = await readResource<Flag>(target, 'Flag', flagId);
  if (flag === undefined) {
    throw new OperationNotFoundError(`Flag/${flagId} was not found.`);
  }
  if (!mayShow(token, flag, false)) {
    throw readOutsideScope(token, 'Flag', flagId);
  }
  if (
    !hasAiLabel(flag.meta) ||
    !flag.extension?.some((candidate) => candidate.url === FLAG_DETAIL_EXTENSION)
  ) {
    throw new OperationInputError(
      'id',
      `Flag/${flagId} is not a MonitorMed monitoring Flag (AIAST label and flag-detail extension), so it takes no $respond.`
    );
  }
  if (token.fhirUser === undefined) {
    throw new ForbiddenError(
      'The token has no fhirUser claim, so the clinician cannot be recorded; launch with the openid and fhirUser scopes.'
    );
  }

  // Only one response per Flag: a repeat of it completes the steps, another one is a conflict.
  const existing = recordedResponse(flag);
  if (existing !== undefined && existing.response !== input.response) {
    throw new FlagConflictError(
      `Flag/${flagId} already has the response ${existing.response}, recorded at ${existing.time}, and a Flag takes one response.`
    );
  }
  if (existing === undefined && flag.status !== 'active') {
    throw new FlagConflictError(`Flag/${flagId} is ${flag.status}, not active, so it takes no response.`);
  }
  const recorded: RecordedResponse = existing ?? {
    response: input.response,
    reason: input.reason,
    comment: input.comment,
    author: token.fhirUser,
    time: now.toISOString(),
  };
  if (existing === undefined) {
    await updateFlag(target, flag, recorded);
  }

  const model = await flagModel(target, flag);
  const provenanceId = await createProvenanceOnce(
    target,
    flagId,
    buildProvenance(flagId, model.observationId, model.deviceId, recorded)
  );

  const counted = await countResponse(db, token, flagId, model, recorded);

  const parameters = toParameters([
    { name: 'flag', valueReference: { reference: `Flag/${flagId}` } },
    codePart('response', recorded.response),
    ...(recorded.reason === undefined ? [] : [{ name: 'reason', valueCoding: recorded.reason }]),
    ...(recorded.comment === undefined ? [] : [stringPart('comment', recorded.comment)]),
    { name: 'author', valueReference: { reference: recorded.author } },
    { name: 'recorded', valueDateTime: recorded.time },
    codePart('status', recorded.response === 'override' ? 'inactive' : 'active'),
    { name: 'provenance', valueReference: { reference: `Provenance/${provenanceId}` } },
    { name: 'counted', valueBoolean: counted },
    ...(existing === undefined
      ? []
      : [
          stringPart(
            'message',
            'This response was already recorded; the first recording is returned and counted once.'
          ),
        ]),
  ]);
  return { parameters, patient: flag.subject.reference };
}

/**
 * Records the response on the Flag with If-Match on the version read, so a concurrent change is not
 * overwritten.
 * @throws FlagConflictError when the Flag changed since it was read.
 */
export async function updateFlag(target: FhirTarget, flag: Flag, recorded: RecordedResponse): Promise<void> {
  const flagId = flag.id ?? '';
  const updated: Flag = {
    ...flag,
    // Acknowledge keeps the Flag active: the condition it warns of still holds for this result, and
    // other clinicians should still see it. Override ends it, because the clinician rejected it.
    status: recorded.response === 'override' ? 'inactive' : flag.status,
    ...(recorded.response === 'override' ? { period: { ...flag.period, end: recorded.time } } : {}),
    extension: [...(flag.extension ?? []), responseExtension(recorded)],
  };
  const version = flag.meta?.versionId;
  const { status } = await callFhir(
    target,
    'PUT',
    `Flag/${encodeURIComponent(flagId)}`,
    updated,
    version === undefined ? {} : { 'if-match': `W/"${version}"` }
  );
  if (status === 409 || status === 412) {
    throw new FlagConflictError(
      `Flag/${flagId} changed while the response was being recorded; reload the Flag and respond again.`
    );
  }
  if (status !== 200 && status !== 201) {
    throw new UpstreamError(502, `Updating Flag/${flagId} returned HTTP ${status}.`);
  }
}

/** Creates the Provenance unless one with its tag exists, and returns the id of the stored one. */
async function createProvenanceOnce(
  target: FhirTarget,
  flagId: string,
  provenance: Provenance
): Promise<string> {
  const identifier = `${FLAG_RESPONSE_ID_SYSTEM}|${flagId}`;
  // R4 Provenance has no identifier element, so the key is a meta.tag that the conditional create
  // searches with _tag.
  const tagged: Provenance = {
    ...provenance,
    meta: { ...provenance.meta, tag: [{ system: FLAG_RESPONSE_ID_SYSTEM, code: flagId }] },
  };
  const { status, resource, headers } = await callFhir(target, 'POST', 'Provenance', tagged, {
    'if-none-exist': `_tag=${encodeURIComponent(identifier)}`,
    prefer: 'return=representation',
  });
  if (status !== 200 && status !== 201) {
    throw new UpstreamError(
      502,
      `Creating the response Provenance of Flag/${flagId} returned HTTP ${status}.`
    );
  }
  const id = resource?.id ?? /Provenance\/([^/]+)/.exec(headers.get('location') ?? '')?.[1];
  if (id === undefined) {
    throw new UpstreamError(
      502,
      `The FHIR server returned no id for the response Provenance of Flag/${flagId}.`
    );
  }
  return id;
}

/** Counts the response in the model's override-rate rollup; returns false when it was counted before. */
async function countResponse(
  db: Db,
  token: AccessToken,
  flagId: string,
  model: { observationId: string | undefined; modelId: string | undefined },
  recorded: RecordedResponse
): Promise<boolean> {
  const outcome = recorded.response === 'override' ? 'overridden' : 'accepted';
  const time = new Date(recorded.time);
  const document: FeedbackDocument = {
    // The key has no time, so a repeat on a later day finds it; the day comes from the recorded time.
    _id: `Flag/${flagId}|${outcome}`,
    card: `Flag/${flagId}`,
    outcome,
    serviceId: 'flag-respond',
    modelId: model.modelId ?? null,
    observationId: model.observationId ?? '',
    flagIds: [flagId],
    acceptedSuggestions: [],
    overrideReason: recorded.response === 'override' ? (recorded.reason ?? null) : null,
    userComment: recorded.comment ?? null,
    outcomeTimestamp: time,
    day: recorded.time.slice(0, 10),
    receivedAt: new Date(),
    clientIss: token.clientId ?? 'unknown-client',
  };
  const result = await recordFeedback(db, [document]);
  return result.counted === 1;
}
