/**
 * Calls `Flag/{id}/$respond` (fhir-server-ext) to record a clinician's acknowledge or override of a
 * monitoring Flag, and reads the recorded response from the operation's Parameters.
 */
import type { Parameters } from '@medplum/fhirtypes';
import {
  FLAG_RESPONSE_REASON_SYSTEM,
  FLAG_RESPONSE_REASONS,
  FLAG_RESPONSES,
  type FlagResponseCode,
} from '@monitormed/common/flag-response';
import type { SmartClient } from '../fhir.js';
import type { FlagResponse } from '../results.js';
import { partsNamed, textOf } from './parameters.js';

/** Values the clinician entered in the response dialog. */
export interface FlagResponseForm {
  response: FlagResponseCode;
  /** A code of FLAG_RESPONSE_REASONS, or undefined when none was picked (allowed for acknowledge). */
  reasonCode: string | undefined;
  comment: string;
}

/** Builds the POST body of $respond. */
export function buildRespondParameters(form: FlagResponseForm): Parameters {
  const reason = FLAG_RESPONSE_REASONS.find((candidate) => candidate.code === form.reasonCode);
  const comment = form.comment.trim();
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'response', valueCode: form.response },
      ...(reason === undefined
        ? []
        : [
            {
              name: 'reason',
              valueCoding: {
                system: FLAG_RESPONSE_REASON_SYSTEM,
                code: reason.code,
                display: reason.display,
              },
            },
          ]),
      ...(comment === '' ? [] : [{ name: 'comment', valueString: comment }]),
    ],
  };
}

/**
 * Parses the Parameters that $respond returns.
 * @throws Error when the result has no valid `response`.
 */
export function parseRespondResult(parameters: Parameters): FlagResponse {
  const top = parameters.parameter;
  const response = FLAG_RESPONSES.find((code) => code === textOf(top, 'response'));
  if (response === undefined) {
    throw new Error('$respond returned no valid response parameter.');
  }
  const reason = partsNamed(top, 'reason')[0]?.valueCoding;
  return {
    response,
    reason: reason?.display ?? reason?.code,
    comment: textOf(top, 'comment'),
    author: partsNamed(top, 'author')[0]?.valueReference?.reference,
    time: textOf(top, 'recorded'),
  };
}

/**
 * Records a response on one Flag.
 * @throws the fhirclient error of a failed request, whose message is the OperationOutcome's text.
 */
export async function respondToFlag(
  client: SmartClient,
  flagId: string,
  form: FlagResponseForm
): Promise<FlagResponse> {
  const parameters = await client.request<Parameters>({
    url: `Flag/${encodeURIComponent(flagId)}/$respond`,
    method: 'POST',
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify(buildRespondParameters(form)),
  });
  return parseRespondResult(parameters);
}
