/**
 * The model card of a monitored model as an AI-ModelCard DocumentReference (HL7 AI Transparency IG 1.0.0,
 * https://hl7.org/fhir/uv/aitransparency/1.0.0/StructureDefinition-AI-ModelCard.html).
 */
import type { DocumentReference } from '@medplum/fhirtypes';
import { AI_TRANSPARENCY_BASE, MONITORMED_BASE } from './fhir-codes.js';
import type { AiModelDefinition } from './models.js';

/** Code system of the IG's DocumentReference.type and category codes for model cards and prompts. */
export const AI_INPUTS_SYSTEM = `${AI_TRANSPARENCY_BASE}/CodeSystem/AIinputsCS`;

/** Identifier system of a model card DocumentReference, with the value `{modelId}|{version}`. */
export const MODEL_CARD_ID_SYSTEM = `${MONITORMED_BASE}/sid/model-card`;

/** Returns the model card identifier value of a model version, `{modelId}|{version}`. */
export function modelCardIdentifierValue(model: Pick<AiModelDefinition, 'modelId' | 'version'>): string {
  return `${model.modelId}|${model.version}`;
}

/**
 * Builds the search that finds a model version's card, for `ifNoneExist`. The `|` inside the value is
 * escaped as `\|` (FHIR search escaping), so the server splits system and value at the first bar only.
 */
export function modelCardQuery(model: Pick<AiModelDefinition, 'modelId' | 'version'>): string {
  const token = `${MODEL_CARD_ID_SYSTEM}|${modelCardIdentifierValue(model).replaceAll('|', '\\|')}`;
  return `identifier=${encodeURIComponent(token)}`;
}

/**
 * Builds the AI-ModelCard DocumentReference of a model version, with the Hugging Face Markdown card inline
 * (base64 in `content.attachment.data`, plain in `description` as the IG suggests for readers).
 * @param model - The model definition; its version is part of the card's identifier, because a new version
 *   has a new card.
 * @param markdown - The card: YAML front matter and Markdown.
 * @returns A current DocumentReference without id.
 */
export function buildModelCard(model: AiModelDefinition, markdown: string): DocumentReference {
  return {
    resourceType: 'DocumentReference',
    identifier: [{ system: MODEL_CARD_ID_SYSTEM, value: modelCardIdentifierValue(model) }],
    status: 'current',
    type: { coding: [{ system: AI_INPUTS_SYSTEM, code: 'AIModelCard', display: 'AI Model-Card' }] },
    category: [
      {
        coding: [{ system: AI_INPUTS_SYSTEM, code: 'AIModelCardMarkdownFormat', display: 'Markdown Format' }],
      },
    ],
    description: markdown,
    content: [
      {
        attachment: {
          contentType: 'text/markdown',
          data: Buffer.from(markdown, 'utf8').toString('base64'),
          title: `${model.name} ${model.version} model card`,
        },
      },
    ],
  };
}
