// MonitorMed's code systems and value sets. The URLs and codes must stay equal to those in
// common/src/fhir-codes.ts (MONITORING_CODE_SYSTEM, FLAG_CODES) and common/models/demo-models.json.

CodeSystem: MonitoringCodes
Id: monitoring
Title: "MonitorMed monitoring codes"
Description: "Reasons for which MonitorMed raises a Flag on a patient whose record holds an AI result."
* ^url = "https://monitormed.dev/fhir/CodeSystem/monitoring"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #high-uncertainty "AI result has high uncertainty" "The binary predictive entropy of the AI result is at or above the configured threshold, so the model's call is close to a coin toss and should not be relied on alone."
* #model-drift "AI model drift detected when this result was produced" "In the UTC day of the result, a two-sample Kolmogorov-Smirnov test of the model's output scores against its pooled reference windows gave a p-value below the configured threshold, with enough results in the day."
* #model-alert "AI model monitoring alert" "An alert rule on the model fired: a performance, calibration or override metric of one population subgroup stayed past the rule's threshold for the rule's number of consecutive windows, each with at least the rule's minimum number of results."
* #ai-result-monitoring "AI result monitoring" "Topic of the CDS Hooks cards in which MonitorMed reports monitoring findings on a patient's AI results, so an EHR can group them. It is not a Flag code."

ValueSet: MonitoringFlagCodes
Id: monitoring-flag-codes
Title: "MonitorMed monitoring Flag codes"
Description: "All codes a MonitorMed monitoring Flag may carry. The CDS Hooks card topic ai-result-monitoring is left out, because it is no Flag code."
* ^url = "https://monitormed.dev/fhir/ValueSet/monitoring-flag-codes"
* ^status = #active
* ^experimental = false
* MonitoringCodes#high-uncertainty
* MonitoringCodes#model-drift
* MonitoringCodes#model-alert

CodeSystem: UncertaintyMethods
Id: uncertainty-method
Title: "MonitorMed uncertainty methods"
Description: "Methods by which MonitorMed computes the uncertainty of an AI result."
* ^url = "https://monitormed.dev/fhir/CodeSystem/uncertainty-method"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #entropy "Binary predictive entropy" "Shannon entropy in bits of the Bernoulli distribution with the model's probability p: -p log2 p - (1 - p) log2 (1 - p). It is 0 for a certain call and 1 at p = 0.5. Recorded as value; as a rule, a result is uncertain when it is at or above entropyThreshold."
* #margin "Margin of the two class probabilities" "Difference between the two highest class probabilities; for a binary model with probability p, |p - (1 - p)| = |2p - 1|, from 0 on the decision boundary to 1 for a certain call. Recorded as margin; as a rule, a result is uncertain when it is below marginWidth, which is alibi-detect's margin uncertainty with margin_width."
* #mc-dropout "Monte Carlo dropout on a surrogate" "T forward passes of a surrogate network, trained to mimic the model from its inputs, with dropout active at inference. The extension records T as samples, the surrogate version, and the mean, standard deviation and predictive entropy of the T probabilities; value is still the entropy of the reported probability."
* #mutual-information "Mutual information (BALD) from MC dropout" "Mutual information in bits between the prediction and the surrogate's weights, estimated from the T Monte Carlo dropout passes as the binary entropy of the mean probability minus the mean of the T per-pass binary entropies (Bayesian active learning by disagreement). It measures the surrogate's doubt about its own weights, which grows for inputs unlike its training data. Recorded as mutualInformation; only with mc-dropout."

ValueSet: UncertaintyMethodCodes
Id: uncertainty-method
Title: "MonitorMed uncertainty methods"
Description: "All uncertainty methods MonitorMed may record."
* ^url = "https://monitormed.dev/fhir/ValueSet/uncertainty-method"
* ^status = #active
* ^experimental = false
* include codes from system UncertaintyMethods

ValueSet: UncertaintyFlagRuleCodes
Id: uncertainty-flag-rule
Title: "MonitorMed high-uncertainty rules"
Description: "The uncertainty methods whose rule can raise a high-uncertainty Flag: entropy (at or above the entropy threshold) and margin (below the margin width)."
* ^url = "https://monitormed.dev/fhir/ValueSet/uncertainty-flag-rule"
* ^status = #active
* ^experimental = false
* UncertaintyMethods#entropy
* UncertaintyMethods#margin

CodeSystem: DriftTests
Id: drift-test
Title: "MonitorMed drift tests"
Description: "Statistical tests by which MonitorMed checks a model's outputs for drift."
* ^url = "https://monitormed.dev/fhir/CodeSystem/drift-test"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #ks "Two-sample Kolmogorov-Smirnov test" "Compares the model's output scores in one window with those of its reference window. The statistic is the largest distance D between the two empirical distribution functions."

ValueSet: DriftTestCodes
Id: drift-test
Title: "MonitorMed drift tests"
Description: "All drift tests MonitorMed may record."
* ^url = "https://monitormed.dev/fhir/ValueSet/drift-test"
* ^status = #active
* ^experimental = false
* include codes from system DriftTests

CodeSystem: DemoModelOutputs
Id: demo-model-outputs
Title: "MonitorMed demo model outputs"
Description: "Output codes of the two synthetic demo AI models in common/models/demo-models.json. Real deployments use the codes their vendors send."
* ^url = "https://monitormed.dev/fhir/CodeSystem/demo-model-outputs"
* ^status = #active
* ^experimental = true
* ^caseSensitive = true
* ^content = #complete
* #MM-SEPSIS-RISK "Sepsis risk score" "Probability from 0 to 1 that an adult inpatient develops sepsis within 12 hours, as estimated by the demo sepsis model."
* #MM-CXR-PTX "Pneumothorax probability" "Probability from 0 to 1 that a chest radiograph shows a pneumothorax, as estimated by the demo chest X-ray model."

ValueSet: DemoModelOutputCodes
Id: demo-model-outputs
Title: "MonitorMed demo model outputs"
Description: "All output codes of the demo AI models."
* ^url = "https://monitormed.dev/fhir/ValueSet/demo-model-outputs"
* ^status = #active
* ^experimental = true
* include codes from system DemoModelOutputs
