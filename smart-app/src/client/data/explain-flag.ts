/**
 * Calls `Observation/{id}/$explain-flag` (fhir-server-ext) and reads why each monitoring Flag on the
 * result was raised, with the numbers behind it, and the model and version from the AI Provenance.
 */
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { SmartClient } from '../fhir.js';
import { partsNamed, textOf } from './parameters.js';

/** The reason one Flag was raised, with its numbers. */
export interface FlagExplanation {
  flagReference: string | undefined;
  /** The Flag's code display, or its code. */
  code: string | undefined;
  reason: string | undefined;
  /** The numbers behind the reason (such as value, threshold, pValue, window), in the operation's order. */
  details: { name: string; value: string }[];
}

/** A parsed $explain-flag result. */
export interface ResultExplanation {
  flagged: boolean;
  /** Model name and version from the AI Provenance, when one names the model Device. */
  model: { name: string | undefined; version: string | undefined } | undefined;
  /** Notes of the operation, such as why the model is unknown. */
  messages: string[];
  flags: FlagExplanation[];
}

/** Parts of a flag that the explanation shows on their own line rather than among the numbers. */
const NON_DETAIL_PARTS = new Set(['resource', 'code', 'status', 'reason']);

function primitiveText(part: ParametersParameter): string | undefined {
  if (part.valueDecimal !== undefined) {
    return String(Number(part.valueDecimal.toPrecision(4)));
  }
  if (part.valueInteger !== undefined) {
    return String(part.valueInteger);
  }
  if (part.valueBoolean !== undefined) {
    return part.valueBoolean ? 'yes' : 'no';
  }
  return part.valueString ?? part.valueCode ?? part.valueDateTime;
}

/** Parses a $explain-flag result. */
export function parseExplanation(parameters: Parameters): ResultExplanation {
  const top = parameters.parameter;
  const modelPart = partsNamed(top, 'model')[0];
  return {
    flagged: partsNamed(top, 'flagged')[0]?.valueBoolean === true,
    model:
      modelPart === undefined
        ? undefined
        : { name: textOf(modelPart.part, 'name'), version: textOf(modelPart.part, 'modelVersion') },
    messages: partsNamed(top, 'message').flatMap((part) =>
      part.valueString === undefined ? [] : [part.valueString]
    ),
    flags: partsNamed(top, 'flag').map((flagPart) => {
      const code = partsNamed(flagPart.part, 'code')[0]?.valueCoding;
      return {
        flagReference: partsNamed(flagPart.part, 'resource')[0]?.valueReference?.reference,
        code: code?.display ?? code?.code,
        reason: textOf(flagPart.part, 'reason'),
        details: (flagPart.part ?? []).flatMap((part) => {
          const value = primitiveText(part);
          return NON_DETAIL_PARTS.has(part.name) || value === undefined ? [] : [{ name: part.name, value }];
        }),
      };
    }),
  };
}

/**
 * Runs $explain-flag on one AI result.
 * @throws the fhirclient error of a failed request.
 */
export async function loadExplanation(
  client: SmartClient,
  observationId: string
): Promise<ResultExplanation> {
  const parameters = await client.request<Parameters>(
    `Observation/${encodeURIComponent(observationId)}/$explain-flag`
  );
  return parseExplanation(parameters);
}
