// Extensions that the HL7 listener adds while it maps ORU^R01 to FHIR, so that the mapping loses no
// information of the message. The URLs must equal those in hl7-listener/src/fhir/extensions.ts.

Extension: Hl7v2RawValue
Id: hl7v2-raw-value
Title: "HL7 v2 raw OBX-5"
Description: "OBX-5 exactly as received, with escape sequences and formatting commands, added when decoding the text for valueString changed it."
Context: Observation
* ^url = "https://monitormed.dev/fhir/StructureDefinition/hl7v2-raw-value"
* value[x] only string

Extension: Hl7v2AssumedTimeZone
Id: hl7v2-assumed-time-zone
Title: "HL7 v2 assumed time zone"
Description: "Records that an HL7 v2 date/time had no UTC offset, so the listener applied the facility time zone to fill the named element."
Context: Observation, DiagnosticReport
* ^url = "https://monitormed.dev/fhir/StructureDefinition/hl7v2-assumed-time-zone"
* extension contains
    element 1..1 and
    timeZone 1..1
* extension[element] ^short = "FHIR element that got the zone, such as effectiveDateTime"
* extension[element].value[x] only string
* extension[timeZone] ^short = "IANA time zone applied, such as Europe/Paris"
* extension[timeZone].value[x] only string

Extension: Hl7v2ReportNote
Id: hl7v2-report-note
Title: "HL7 v2 report note"
Description: "An NTE comment that follows an OBR, because R4 DiagnosticReport has no note element."
Context: DiagnosticReport
* ^url = "https://monitormed.dev/fhir/StructureDefinition/hl7v2-report-note"
* value[x] only Annotation
