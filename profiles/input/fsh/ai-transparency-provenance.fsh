// Local mirror of the AI Provenance profile of the HL7 AI Transparency on FHIR IG 1.0.0
// (http://hl7.org/fhir/uv/aitransparency/1.0.0/), with the IG's canonical URL, because the IG package
// cannot be downloaded on our build machines. Left out: the entity slices for Model-Cards and input
// prompts, whose profiles MonitorMed does not mirror.

Profile: AIProvenance
Parent: Provenance
Id: AI-Provenance
Title: "AI Provenance (AI Transparency IG 1.0.0 mirror)"
Description: "Records that an AI model produced or changed the target resources: the reason is AIAST and an agent is the AI Device."
* ^url = "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Provenance"
* ^version = "1.0.0"
* target 1..* MS
* occurred[x] MS
* reason ^slicing.discriminator.type = #value
* reason ^slicing.discriminator.path = "$this"
* reason ^slicing.rules = #open
* reason contains AIReason 1..1
* reason[AIReason] = $ObsValue#AIAST
* agent ^slicing.discriminator.type = #profile
* agent ^slicing.discriminator.path = "who.resolve()"
* agent ^slicing.rules = #open
* agent contains AIagent 1..* MS and Humanagent 0..* MS
* agent[AIagent].who only Reference(AIDevice)
* agent[AIagent].type 1..1 MS
* agent[AIagent].role = AIdeviceTypeCS#Artificial-Intelligence (exactly)
* agent[Humanagent].who only Reference(Practitioner or PractitionerRole or RelatedPerson or Patient)
* agent[Humanagent].type 1..1 MS
* entity MS
* entity.what MS
