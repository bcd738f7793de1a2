// Code systems of codes that fhir-server-ext writes or accepts outside the profiles above. The URLs and
// codes must stay equal to OVERRIDE_REASON_SYSTEM and OVERRIDE_REASONS (cds-hooks/service-definition.ts),
// FLAG_RESPONSE_REASON_SYSTEM and FLAG_RESPONSE_REASONS (operations/respond-flag.ts) and
// SUBSCRIPTION_OWNER_SYSTEM (subscription.ts).

CodeSystem: CdsOverrideReasons
Id: cds-override-reason
Title: "MonitorMed CDS Hooks override reasons"
Description: "Reasons a clinician can pick when dismissing a MonitorMed CDS Hooks card about an AI result."
* ^url = "https://monitormed.dev/fhir/CodeSystem/cds-override-reason"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #result-confirmed "AI result confirmed by other findings" "The clinician dismissed the card because other findings confirm the AI result, so the flag does not change the decision."
* #result-not-used "AI result not used in this decision" "The clinician does not rely on the AI result for the current decision, so its flag does not apply."
* #already-aware "Already aware of this model issue" "The clinician already knows about the model's monitoring issue that the card reports."
* #flag-disputed "Monitoring flag looks wrong" "The clinician believes the monitoring flag itself is wrong for this result."

CodeSystem: FlagResponseReasons
Id: flag-response-reason
Title: "MonitorMed Flag response reasons"
Description: "Reasons a clinician gives when acknowledging or overriding a MonitorMed monitoring Flag."
* ^url = "https://monitormed.dev/fhir/CodeSystem/flag-response-reason"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #consistent-with-assessment "Consistent with clinical assessment" "The AI result agrees with the clinician's own assessment of the patient."
* #contradicts-assessment "Contradicts clinical assessment" "The AI result disagrees with the clinician's own assessment of the patient."
* #outside-intended-use "Outside the model's intended use" "The patient or the input lies outside the intended use stated for the model, so the result should not be used."
* #input-data-error "Input data error" "The data the model received for this result were wrong or incomplete."
* #other "Other reason" "A reason not listed; the response comment explains it."

CodeSystem: SubscriptionOwners
Id: subscription-owner
Title: "MonitorMed Subscription owners"
Description: "Tags that mark the rest-hook Subscriptions a MonitorMed service owns, so the service finds them again at start. The code names the owning service instance, so deployments and tests add their own codes, such as {owner}-{rule name} for the ground-truth rules."
* ^url = "https://monitormed.dev/fhir/CodeSystem/subscription-owner"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #fragment
* #fhir-server-ext "fhir-server-ext" "The default fhir-server-ext instance, which owns the Subscription for AI-labelled Observations."
