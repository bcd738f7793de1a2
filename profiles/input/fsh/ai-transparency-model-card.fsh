// Local mirror of the Model-Card parts of the HL7 AI Transparency on FHIR IG 1.0.0
// (http://hl7.org/fhir/uv/aitransparency/1.0.0/): the AIinputsCS codes, the AIModelCard DocumentReference
// profile and the ModelCardDescription extension on the AI Device. They keep the IG's canonical URLs, ids,
// codes, slice names and cardinalities, in our own words, because the IG package cannot be downloaded here.

CodeSystem: AIinputsCS
Id: AIinputsCS
Title: "Codes for AI Model-Card and input prompt (AI Transparency IG 1.0.0 mirror)"
Description: "DocumentReference.type and DocumentReference.category codes that mark a DocumentReference as an AI model card or an AI input prompt, and name the model card's format."
* ^url = "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIinputsCS"
* ^version = "1.0.0"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #AIModelCard "AI Model-Card" "A DocumentReference whose content is a model card that describes an AI system."
* #AIInputPrompt "AI Input Prompt" "A DocumentReference whose content is the prompt given to an AI model."
* #AIModelCardMarkdownFormat "Markdown Format" "The model card is a Hugging Face model card: YAML front matter followed by Markdown."
* #AImodelCardCHAIformat "CHAI Format" "The model card follows the Coalition for Health AI (CHAI) Applied Model Card schema, in XML."

Profile: AIModelCard
Parent: DocumentReference
Id: AI-ModelCard
Title: "AI Model-Card DocumentReference (AI Transparency IG 1.0.0 mirror)"
Description: "A DocumentReference that holds the model card of an AI system, inline or by URL, in Hugging Face Markdown or CHAI XML format."
* ^url = "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-ModelCard"
* ^version = "1.0.0"
* type 1..1 MS
* type.coding ^slicing.discriminator.type = #value
* type.coding ^slicing.discriminator.path = "$this"
* type.coding ^slicing.rules = #closed
* type.coding contains AImodelCard 1..* MS
* type.coding[AImodelCard] = AIinputsCS#AIModelCard
* category 1..* MS
* category ^slicing.discriminator.type = #value
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category contains AImodelCardMD 0..1 MS and AImodelCardCHAI 0..1 MS
* category[AImodelCardMD] = AIinputsCS#AIModelCardMarkdownFormat
* category[AImodelCardCHAI] = AIinputsCS#AImodelCardCHAIformat
* content ^slicing.discriminator.type = #value
* content ^slicing.discriminator.path = "attachment.contentType"
* content ^slicing.rules = #open
* content contains MarkdownFormat 0..1 and CHAIformat 0..1
* content[MarkdownFormat].attachment.contentType 1..1 MS
* content[MarkdownFormat].attachment.contentType = #text/markdown (exactly)
* content[MarkdownFormat].attachment.data MS
* content[MarkdownFormat].attachment.data ^comment = "The model card in Markdown, base64-encoded"
* content[MarkdownFormat].attachment.url MS
* content[MarkdownFormat].attachment.url ^comment = "Where the Markdown model card can be fetched"
* content[CHAIformat].attachment.contentType 1..1 MS
* content[CHAIformat].attachment.contentType = #application/xml (exactly)
* content[CHAIformat].attachment.data MS
* content[CHAIformat].attachment.url MS
* identifier MS
* description MS
* description ^comment = "The Markdown model card as plain text, for readers that do not decode the attachment"

Extension: ModelCardDescription
Id: aitransparency.modelCardDescription
Title: "Model-Card (AI Transparency IG 1.0.0 mirror)"
Description: "A reference from an AI Device to the model card that always describes it."
* ^url = "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/aitransparency.modelCardDescription"
* ^version = "1.0.0"
* ^context[+].type = #element
* ^context[=].expression = "Device"
* value[x] only Reference(AIModelCard)
* valueReference 1..1
