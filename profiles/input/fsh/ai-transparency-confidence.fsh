// Local mirror of the AIconfidence extension of the HL7 AI Transparency on FHIR IG 1.0.0
// (http://hl7.org/fhir/uv/aitransparency/1.0.0/), with the IG's canonical URL and value types, because
// the IG package cannot be downloaded on our build machines. MonitorMed writes it as valueDecimal.

Extension: AIconfidence
Id: AIconfidence
Title: "AI Confidence (AI Transparency IG 1.0.0 mirror)"
Description: "How sure the AI system is about the result in the resource or element that carries this extension. MonitorMed writes valueDecimal, a probability from 0 to 1."
Context: Resource, Element
* ^url = "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AIconfidence"
* ^version = "1.0.0"
* value[x] 1..1 MS
* value[x] only decimal or Quantity or Range or CodeableConcept or string
* valueDecimal MS
* valueDecimal ^short = "Probability from 0 to 1"
* valueQuantity MS
* valueQuantity ^short = "Percentage"
* valueRange MS
* valueRange ^short = "Confidence interval"
* valueCodeableConcept MS
* valueCodeableConcept ^short = "Confidence category, such as low or high"
* valueCodeableConcept from $CertaintyRating (required)
* valueString MS
* valueString ^short = "Confidence as free text"
