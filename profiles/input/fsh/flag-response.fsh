// A clinician's response to a MonitorMed monitoring Flag, recorded by fhir-server-ext's Flag/{id}/$respond
// (fhir-server-ext/src/operations/respond-flag.ts). The URLs must stay equal to the constants in
// common/src/flag-response.ts, and the reason codes are defined in service-codes.fsh.

ValueSet: FlagResponseReasonCodes
Id: flag-response-reason
Title: "MonitorMed Flag response reasons"
Description: "All reasons a clinician may give when responding to a monitoring Flag."
* ^url = "https://monitormed.dev/fhir/ValueSet/flag-response-reason"
* ^status = #active
* ^experimental = false
* include codes from system FlagResponseReasons

Extension: FlagResponse
Id: flag-response
Title: "Clinician response to a monitoring Flag"
Description: "The clinician's response to a monitoring Flag. Acknowledge keeps the Flag active, because the condition it warns of still holds for the result; override makes it inactive with period.end set. The AI Provenance with the clinician as Humanagent records the same response."
Context: Flag
* ^url = "https://monitormed.dev/fhir/StructureDefinition/flag-response"
* extension contains
    response 1..1 and
    reason 0..1 and
    comment 0..1 and
    author 1..1 and
    time 1..1
* extension[response].value[x] only code
* extension[response] ^short = "acknowledge or override"
* extension[reason].value[x] only Coding
* extension[reason].valueCoding from FlagResponseReasonCodes (required)
* extension[comment].value[x] only string
* extension[comment] ^short = "Free-text comment of the clinician; may contain PHI"
* extension[author].value[x] only Reference(Practitioner or PractitionerRole or Patient or RelatedPerson)
* extension[author] ^short = "The clinician, from the token's fhirUser claim"
* extension[time].value[x] only dateTime

Instance: respond
InstanceOf: OperationDefinition
Usage: #definition
* insert OpHeader(respond, Respond, Respond to a monitoring Flag, Flag, [[A clinician acknowledges or overrides a monitoring Flag on an AI result. The response is recorded on the Flag (extension flag-response; an override also sets status inactive and period.end), as an AI Provenance on the Flag and its AI result with the clinician from the token's fhirUser as a verifier agent, and once per Flag in the model's override rate. A Flag takes one response: posting the same response again returns the recorded one, another response gets 409. Needs a token with read and update access to the Flag's patient and a fhirUser claim.]])
* affectsState = true
* insert OpParam(response, in, 1, 1, code, [[acknowledge or override.]])
* insert OpParam(reason, in, 0, 1, Coding, [[Why, from the flag-response-reason value set; required for override.]])
* parameter[=].binding.strength = #required
* parameter[=].binding.valueSet = "https://monitormed.dev/fhir/ValueSet/flag-response-reason"
* insert OpParam(comment, in, 0, 1, string, [[Optional free-text comment of the clinician.]])
* insert OpParam(flag, out, 1, 1, Reference, [[The Flag.]])
* insert OpParam(response, out, 1, 1, code, [[The recorded response.]])
* insert OpParam(reason, out, 0, 1, Coding, [[The recorded reason.]])
* insert OpParam(comment, out, 0, 1, string, [[The recorded comment.]])
* insert OpParam(author, out, 1, 1, Reference, [[The clinician who responded.]])
* insert OpParam(recorded, out, 1, 1, dateTime, [[When the response was recorded.]])
* insert OpParam(status, out, 1, 1, code, [[The Flag's status after the response.]])
* insert OpParam(provenance, out, 1, 1, Reference, [[The AI Provenance of the response.]])
* insert OpParam(counted, out, 1, 1, boolean, [[Whether this call counted the response in the override rate; false when it was counted before.]])
* insert OpParam(message, out, 0, 1, string, [[Set when the response had already been recorded.]])
