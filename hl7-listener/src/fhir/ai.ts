import type { Device, Observation, Provenance, Reference } from '@medplum/fhirtypes';
import {
  AIAST,
  AI_CONFIDENCE_EXTENSION,
  AI_AGENT_ROLE,
  PROVENANCE_AUTHOR,
  type AiModelDefinition,
} from '@monitormed/common';
import { ERROR_CODES, Hl7ProcessingError } from '../hl7/hl7-error.js';

const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/**
 * Finds the catalog model that produced a result. A model matches when every rule it gives matches:
 * MSH-3.1 sending application, OBX-3.1 code and OBX-18.1 equipment instance; a model without rules
 * matches nothing.
 * @param models - The model catalog.
 * @param sendingApplication - MSH-3.1.
 * @param observationCode - OBX-3.1.
 * @param equipmentId - OBX-18.1 of the first repetition, '' when empty.
 * @returns The model, or undefined for a result that is not AI-generated.
 */
export function matchModel(
  models: AiModelDefinition[],
  sendingApplication: string,
  observationCode: string,
  equipmentId = ''
): AiModelDefinition | undefined {
  return models.find((model) => {
    const { sendingApplication: application, observationCodes: codes, equipmentIds } = model.match;
    if (application === undefined && codes === undefined && equipmentIds === undefined) {
      return false;
    }
    const applicationMatches = application === undefined || application === sendingApplication;
    const codeMatches = codes === undefined || codes.includes(observationCode);
    const equipmentMatches = equipmentIds === undefined || equipmentIds.includes(equipmentId);
    return applicationMatches && codeMatches && equipmentMatches;
  });
}

/**
 * Turns a mapped Observation into an AI result as the data contract defines it. It adds the AIAST label,
 * the model's output code, the probability as a unitless quantity and the model Device. It also adds the
 * AIconfidence extension, max(p, 1 - p), and a POS/NEG interpretation from the model's threshold.
 * @param observation - The Observation mapped from OBX.
 * @param model - The model that produced it.
 * @param device - Reference to the model's Device.
 * @param obxOccurrence - OBX occurrence, for the ERR location.
 * @returns The labelled Observation.
 * @throws Hl7ProcessingError (AE, ERR 102 at OBX-5) when the value is not a probability from 0 to 1.
 */
export function labelAiObservation(
  observation: Observation,
  model: AiModelDefinition,
  device: Reference<Device>,
  obxOccurrence: number
): Observation {
  const probability = observation.valueQuantity?.value;
  if (
    probability === undefined ||
    observation.valueQuantity?.comparator !== undefined ||
    probability < 0 ||
    probability > 1
  ) {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.dataTypeError,
      location: { segment: 'OBX', segmentSequence: obxOccurrence, field: 5 },
      text: `OBX-5 of AI model ${model.modelId} must be a numeric probability from 0 to 1`,
    });
  }

  const positive = probability >= model.positiveThreshold;
  // The probability and the POS/NEG call replace the mapped value and any OBX-8 flags.
  const rest: Observation = { ...observation };
  delete rest.valueQuantity;
  delete rest.interpretation;
  return {
    ...rest,
    meta: { security: [AIAST] },
    code: {
      coding: [model.outputCode],
      ...(model.outputCode.display === undefined ? {} : { text: model.outputCode.display }),
    },
    valueQuantity: { value: probability, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
    device,
    extension: [
      ...(observation.extension ?? []),
      { url: AI_CONFIDENCE_EXTENSION, valueDecimal: Math.max(probability, 1 - probability) },
    ],
    interpretation: [
      {
        coding: [
          positive
            ? { system: INTERPRETATION_SYSTEM, code: 'POS', display: 'Positive' }
            : { system: INTERPRETATION_SYSTEM, code: 'NEG', display: 'Negative' },
        ],
      },
    ],
  };
}

/**
 * Builds the AI Provenance of a group of AI results: target the results and their report, reason AIAST,
 * the model Device as author agent with role Artificial-Intelligence.
 * @param targets - References to the Observations and the DiagnosticReport.
 * @param device - Reference to the model's Device.
 * @param occurred - When the model produced the results (FHIR dateTime), if known.
 * @param recorded - When the listener recorded them.
 * @returns The Provenance.
 */
export function buildAiProvenance(
  targets: Reference[],
  device: Reference<Device>,
  occurred: string | undefined,
  recorded: Date
): Provenance {
  return {
    resourceType: 'Provenance',
    target: targets,
    ...(occurred === undefined ? {} : { occurredDateTime: occurred }),
    recorded: recorded.toISOString(),
    reason: [{ coding: [AIAST] }],
    agent: [{ type: { coding: [PROVENANCE_AUTHOR] }, role: [{ coding: [AI_AGENT_ROLE] }], who: device }],
  };
}
