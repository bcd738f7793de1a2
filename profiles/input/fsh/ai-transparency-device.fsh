// Local mirror of parts of the HL7 AI Transparency on FHIR IG 1.0.0 (hl7.fhir.uv.aitransparency,
// http://hl7.org/fhir/uv/aitransparency/1.0.0/): the AI Device profile, the AIKind extension and the
// Device type codes that MonitorMed uses. The IG package cannot be downloaded on our build machines, so
// these definitions keep the IG's canonical URLs, ids and codes but are written here, in our own words.
// The Model-Card profile and the ModelCardDescription extension are in ai-transparency-model-card.fsh.

CodeSystem: AIdeviceTypeCS
Id: AIdeviceTypeCS
Title: "Device type for Artificial Intelligence (AI Transparency IG 1.0.0, partial mirror)"
Description: "Device.type codes that mark a Device as an AI system and say which kind of AI it is. This copy holds only the codes MonitorMed uses and their parents, so its content is a fragment of the IG's code system."
* ^url = "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIdeviceTypeCS"
* ^version = "1.0.0"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #fragment
* ^hierarchyMeaning = #grouped-by
* ^property[0].code = #abstract
* ^property[0].uri = "http://hl7.org/fhir/concept-properties#notSelectable"
* ^property[0].type = #boolean
* #Artificial-Intelligence "All kinds of Artificial Intelligence" "An AI system of any kind, without saying which technique it uses."
  * #AI-By-Model "Classification by Technical Model" "Grouping of AI systems by the technical model they are built on. It is a heading, not a code to record."
  * #AI-By-Model ^property[0].code = #abstract
  * #AI-By-Model ^property[0].valueBoolean = true
    * #Machine-Learning-Models "Machine Learning Models" "AI systems whose behaviour is learned from data, such as gradient boosted trees or logistic regression risk scores."
      * #Deep-Learning-Models "Deep Learning Models" "Machine learning systems built on multi-layer neural networks, such as convolutional networks that read images."

ValueSet: AIdeviceTypeVS
Id: AIdeviceTypeVS
Title: "Device type codes for Artificial Intelligence (AI Transparency IG 1.0.0 mirror)"
Description: "All codes of the AI Transparency IG's Device type code system."
* ^url = "http://hl7.org/fhir/uv/aitransparency/ValueSet/AIdeviceTypeVS"
* ^version = "1.0.0"
* ^status = #active
* ^experimental = false
* codes from system AIdeviceTypeCS

Extension: AIKind
Id: aitransparency.AIKind
Title: "Specific kind of AI technology (AI Transparency IG 1.0.0 mirror)"
Description: "The more specific kind of AI technology that an AI Device uses, such as machine learning or deep learning."
* ^url = "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/aitransparency.AIKind"
* ^version = "1.0.0"
* ^context[+].type = #element
* ^context[=].expression = "Device"
* value[x] only CodeableConcept
* valueCodeableConcept 1..1
* valueCodeableConcept from AIdeviceTypeVS (extensible)

Profile: AIDevice
Parent: Device
Id: AI-Device
Title: "AI Device (AI Transparency IG 1.0.0 mirror)"
Description: "A Device that is an AI system. Device.type is fixed to Artificial-Intelligence, and the AIKind extension may say which kind of AI it is."
* ^url = "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Device"
* ^version = "1.0.0"
* identifier MS
* type 1..1
* type = AIdeviceTypeCS#Artificial-Intelligence
* extension contains AIKind named aiKind 0..*
* extension contains ModelCardDescription named modelCardDescription 0..*
* manufacturer MS
* manufactureDate MS
* deviceName MS
* modelNumber MS
* version MS
* owner MS
* contact MS
* url MS
* safety MS
