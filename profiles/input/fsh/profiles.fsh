// MonitorMed's profiles of the resources its services write, following the data contract in the
// project brief and common/src/fhir-codes.ts. Each profile requires the AIAST security label, the mark
// of AI-asserted data in the HL7 AI Transparency IG 1.0.0.

RuleSet: AiSecurityLabel
* meta 1..1
* meta.security 1..*
* meta.security ^slicing.discriminator.type = #pattern
* meta.security ^slicing.discriminator.path = "$this"
* meta.security ^slicing.rules = #open
* meta.security ^slicing.description = "Slice by system and code"
* meta.security contains aiast 1..1 MS
* meta.security[aiast] = $ObsValue#AIAST
* meta.security[aiast] ^short = "AIAST: Artificial Intelligence asserted"

Profile: MonitoredAIDevice
Parent: AIDevice
Id: monitored-ai-device
Title: "Monitored AI model Device"
Description: "The Device of an AI model that MonitorMed monitors, identified by its model id (see buildModelDevice in @monitormed/common)."
* identifier 1..*
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier contains modelId 1..1 MS
* identifier[modelId].system 1..1
* identifier[modelId].system = $ModelId
* identifier[modelId].value 1..1
* identifier[modelId] ^short = "Model id from the model catalog, such as sepsis-risk"
* identifier contains fdaSubmission 0..1 MS and dicomDeviceUid 0..1 MS
* identifier[fdaSubmission].system 1..1
* identifier[fdaSubmission].system = $FdaSubmission
* identifier[fdaSubmission].value 1..1
* identifier[fdaSubmission] obeys mm-fda-submission
* identifier[fdaSubmission] ^short = "FDA marketing submission number: 510(k) K, De Novo DEN or PMA P followed by digits"
* identifier[dicomDeviceUid].system 1..1
* identifier[dicomDeviceUid].system = $DicomUid
* identifier[dicomDeviceUid].value 1..1
* identifier[dicomDeviceUid] obeys mm-urn-oid
* identifier[dicomDeviceUid] ^short = "DICOM Device UID of the trained model as urn:oid:; retraining gives a new UID"
* status 1..1 MS
* manufacturer 1..1
* deviceName 1..*
* modelNumber MS
* modelNumber ^short = "The manufacturer's model id"
* version 1..*
* extension[aiKind] MS
* extension[modelCardDescription] MS
* extension[modelCardDescription] ^short = "The model card, an AI-ModelCard DocumentReference"
// R4 Device has no intended-use element (R5 neither), and an extension would hide the statement from
// generic viewers, so the statement is a note whose text starts with "Intended use: ".
* note 1..* MS
* note obeys mm-intended-use
* note ^short = "Intended use statement from the manufacturer's labelling, as 'Intended use: ...'"

Invariant: mm-fda-submission
Description: "An FDA submission number is a 510(k) (K), De Novo (DEN) or PMA (P) number: the prefix and 6 digits, and for a PMA an optional supplement such as /S001."
Expression: "value.matches('^(K[0-9]{6}|DEN[0-9]{6}|P[0-9]{6}(/S[0-9]{3})?)$')"
Severity: #error

Invariant: mm-urn-oid
Description: "The value is an OID in urn:oid: form, as FHIR requires for identifiers in system urn:dicom:uid."
Expression: "value.matches('^urn:oid:[0-2]([.](0|[1-9][0-9]*))+$')"
Severity: #error

Invariant: mm-intended-use
Description: "One note states the intended use and starts with 'Intended use: '."
Expression: "text.startsWith('Intended use: ') or %resource.note.where(text.startsWith('Intended use: ')).exists()"
Severity: #error

Invariant: mm-probability
Description: "The value is a probability from 0 to 1."
Expression: "valueQuantity.value.empty() or (valueQuantity.value >= 0 and valueQuantity.value <= 1)"
Severity: #error

Profile: AIResultObservation
Parent: Observation
Id: ai-result-observation
Title: "AI result Observation"
Description: "One output of a monitored AI model: the probability it produced, labelled AIAST, linked to the model's Device, with the model's confidence and, once analyzed, MonitorMed's uncertainty and drift extensions."
* insert AiSecurityLabel
* obeys mm-probability
* identifier MS
* identifier ^short = "Result id; for HL7 v2 results {MSH-4}|{MSH-10}|{OBR set id}|{OBX set id} in https://monitormed.dev/fhir/sid/hl7v2-result"
* status MS
* code MS
* code from DemoModelOutputCodes (example)
* code ^short = "Output code of the model"
* subject 1..1 MS
* subject only Reference(Patient)
* effective[x] 1..1 MS
* effective[x] only dateTime
* effective[x] ^short = "When the model produced the result"
* value[x] 1..1 MS
* value[x] only Quantity
* valueQuantity.value 1..1
* valueQuantity.system 1..1
* valueQuantity.system = $UCUM
* valueQuantity.code 1..1
* valueQuantity.code = #1
* interpretation 1..1 MS
* interpretation ^short = "POS or NEG from the model's positive threshold"
* device 1..1 MS
* device only Reference(MonitoredAIDevice)
* extension contains
    AIconfidence named aiConfidence 1..1 MS and
    AiUncertainty named uncertainty 0..1 MS and
    AiDrift named drift 0..1 MS
* extension[aiConfidence].value[x] only decimal
* extension[aiConfidence] ^short = "max(p, 1 - p), the model's confidence in its positive or negative call"

Profile: AIResultDiagnosticReport
Parent: DiagnosticReport
Id: ai-result-diagnostic-report
Title: "AI result DiagnosticReport"
Description: "Groups the results of one order (HL7 v2 OBR) of which at least one is an AI result, labelled AIAST."
* insert AiSecurityLabel
* identifier MS
* status MS
* code MS
* subject 1..1 MS
* subject only Reference(Patient)
* result 1..* MS
* result ^short = "The order's Observations; AI results conform to AIResultObservation"

Profile: MonitoringFlag
Parent: Flag
Id: monitoring-flag
Title: "MonitorMed monitoring Flag"
Description: "A Flag that MonitorMed raises on the patient of an AI result that is uncertain or was produced while its model drifted. The flag-detail extension points at the AI result."
* insert AiSecurityLabel
* identifier 1..*
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier contains monitoring 1..1 MS
* identifier[monitoring].system 1..1
* identifier[monitoring].system = $FlagId
* identifier[monitoring].value 1..1
* identifier[monitoring] ^short = "{observationId}|{code}, so that a rerun never adds a second Flag"
* status MS
* category 1..* MS
* category = $FlagCategory#clinical
* code MS
* code from MonitoringFlagCodes (required)
* subject MS
* subject only Reference(Patient)
* period.start 1..1 MS
* period.start ^short = "When the flagged result was produced"
* extension contains $FlagDetail named detail 1..1 MS
* extension[detail].value[x] only Reference(Observation)
* extension[detail] ^short = "The flagged AI result"
