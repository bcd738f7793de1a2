// Codes of the ground-truth label Observations that fhir-server-ext writes. The URL and codes must stay
// equal to GROUND_TRUTH_CODE_SYSTEM and the method codes in fhir-server-ext/src/ground-truth/fhir-label.ts.

CodeSystem: GroundTruthCodes
Id: ground-truth
Title: "MonitorMed ground-truth codes"
Description: "Code of the Observation that records the ground-truth label of an AI result, and the methods by which the label was obtained."
* ^url = "https://monitormed.dev/fhir/CodeSystem/ground-truth"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #ground-truth-label "Ground-truth label of an AI result" "The label (positive, negative or indeterminate) that confirming clinical evidence gives to the AI result named in Observation.focus; Provenance.entity names the evidence."
* #label-rule "Rule-based extraction from report text" "The label was extracted from the text of a final radiology report by rule-based negation, uncertainty and history detection."
* #label-lab "Confirmatory laboratory result" "A confirmatory laboratory result above the model's configured threshold, or coded positive, gave the label."
* #label-diagnosis "Diagnosis on the problem list" "A Condition with one of the model's configured diagnosis codes gave the label; a refuted Condition gives a negative label."
* #label-horizon "No confirming evidence by the rule horizon" "No confirming evidence arrived within the model's horizon after the AI result, and the rule makes that a negative label."
