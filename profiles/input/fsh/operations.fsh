// MonitorMed's FHIR operations, served by fhir-server-ext on its SMART-secured /fhir endpoint
// (fhir-server-ext/src/operations), and the DiagnosticReport profile of $compliance-report.
// Operations take FHIR Parameters in and out: https://hl7.org/fhir/R4/operations.html

RuleSet: OpParam(name, use, min, max, type, doc)
* parameter[+].name = #{name}
* parameter[=].use = #{use}
* parameter[=].min = {min}
* parameter[=].max = "{max}"
* parameter[=].type = #{type}
* parameter[=].documentation = "{doc}"

RuleSet: OpGroup(name, use, min, max, doc)
* parameter[+].name = #{name}
* parameter[=].use = #{use}
* parameter[=].min = {min}
* parameter[=].max = "{max}"
* parameter[=].documentation = "{doc}"

RuleSet: OpPart(name, min, max, type, doc)
* parameter[=].part[+].name = #{name}
* parameter[=].part[=].use = #out
* parameter[=].part[=].min = {min}
* parameter[=].part[=].max = "{max}"
* parameter[=].part[=].type = #{type}
* parameter[=].part[=].documentation = "{doc}"

RuleSet: OpGroupPart(name, min, max, doc)
* parameter[=].part[+].name = #{name}
* parameter[=].part[=].use = #out
* parameter[=].part[=].min = {min}
* parameter[=].part[=].max = "{max}"
* parameter[=].part[=].documentation = "{doc}"

RuleSet: OpSubPart(name, min, max, type, doc)
* parameter[=].part[=].part[+].name = #{name}
* parameter[=].part[=].part[=].use = #out
* parameter[=].part[=].part[=].min = {min}
* parameter[=].part[=].part[=].max = "{max}"
* parameter[=].part[=].part[=].type = #{type}
* parameter[=].part[=].part[=].documentation = "{doc}"

RuleSet: OpHeader(id, name, title, resource, description)
* url = "https://monitormed.dev/fhir/OperationDefinition/{id}"
* version = "0.1.0"
* name = "{name}"
* title = "{title}"
* status = #active
* kind = #operation
* publisher = "MonitorMed"
* code = #{id}
* resource[0] = #{resource}
* system = false
* type = false
* instance = true
* description = "{description}"

Instance: monitoring-summary
InstanceOf: OperationDefinition
Usage: #definition
* insert OpHeader(monitoring-summary, MonitoringSummary, Monitoring summary of an AI model, Device, [[The model's status (ok, warning or critical) with the rule that set it, its result volume, per window and subgroup every metric the analyzers stored (value, n, threshold and status) and the output score quantiles, then the alert events of the period with their documented responses and the clinicians' responses per day. Detected output drift is critical; other detected drift and a mean entropy at or above the uncertainty threshold are warnings.]])
* affectsState = false
* insert OpParam(granularity, in, 0, 1, code, [[Window granularity: hour, day (default), week or month.]])
* insert OpParam(from, in, 0, 1, dateTime, [[Only windows starting at or after this date or dateTime.]])
* insert OpParam(to, in, 0, 1, dateTime, [[Only windows starting before this date or dateTime.]])
* insert OpParam(subgroup, in, 0, *, string, [[Only these subgroups, such as all.]])
* insert OpParam(metric, in, 0, *, string, [[Only these metrics, such as output-drift-ks or uncertainty-entropy-mean.]])
* insert OpParam(status, out, 1, 1, code, [[ok, warning or critical.]])
* insert OpParam(rule, out, 1, 1, string, [[The rule that set the status, with the metric, window and numbers.]])
* insert OpParam(modelId, out, 1, 1, string, [[Model id of the Device.]])
* insert OpParam(modelVersion, out, 1, 1, string, [[Model version of the Device.]])
* insert OpParam(granularity, out, 1, 1, code, [[Window granularity of the results.]])
* insert OpParam(volume, out, 1, 1, integer, [[Results in the selected windows of subgroup all.]])
* insert OpGroup(window, out, 0, *, [[One window and subgroup.]])
* insert OpPart(window, 1, 1, string, [[Window key, such as 2026-01-05.]])
* insert OpPart(start, 0, 1, dateTime, [[Start of the window.]])
* insert OpPart(subgroup, 1, 1, string, [[Subgroup, such as all.]])
* insert OpPart(volume, 1, 1, integer, [[Results in the window.]])
* insert OpGroupPart(metric, 0, *, [[One metric value.]])
* insert OpSubPart(name, 1, 1, string, [[Metric name.]])
* insert OpSubPart(category, 1, 1, code, [[uncertainty, drift, performance, volume or other.]])
* insert OpSubPart(value, 0, 1, decimal, [[The value: a p-value, distance, mean or count; absent when not computed.]])
* insert OpSubPart(n, 1, 1, integer, [[Results behind the value.]])
* insert OpSubPart(lower, 0, 1, decimal, [[Lower limit of the 95% interval of a performance metric.]])
* insert OpSubPart(upper, 0, 1, decimal, [[Upper limit of the 95% interval of a performance metric.]])
* insert OpSubPart(estimated, 0, 1, boolean, [[Performance metrics: true when estimated without labels (CBPE), false when measured against labels.]])
* insert OpSubPart(threshold, 0, 1, decimal, [[Threshold the value is compared with.]])
* insert OpSubPart(test, 0, 1, string, [[Drift test name.]])
* insert OpSubPart(detected, 0, 1, boolean, [[Drift metrics: whether drift was detected.]])
* insert OpSubPart(status, 1, 1, code, [[ok, warning, critical, insufficient-data or info.]])
* insert OpGroupPart(outputQuantile, 0, *, [[A quantile of the output score in the window, from the analyzers' score sketch: exact up to 2,000 scores, interpolated on the sketch's grid beyond.]])
* insert OpSubPart(probability, 1, 1, decimal, [[Probability of the quantile: 0.1, 0.25, 0.5, 0.75 or 0.9.]])
* insert OpSubPart(value, 1, 1, decimal, [[The score at that quantile.]])
* insert OpGroup(alert, out, 0, *, [[An event of an alert rule whose window lies in the period, oldest first.]])
* insert OpPart(window, 1, 1, string, [[Window whose value opened or resolved the alert.]])
* insert OpPart(kind, 1, 1, code, [[opened or resolved.]])
* insert OpPart(ruleId, 1, 1, string, [[Id of the alert rule.]])
* insert OpPart(metric, 1, 1, string, [[Metric the rule watches.]])
* insert OpPart(subgroup, 1, 1, string, [[Subgroup the rule watches, such as all.]])
* insert OpPart(direction, 1, 1, code, [[below or above: the side of the threshold that breaches the rule.]])
* insert OpPart(threshold, 1, 1, decimal, [[Threshold of the rule.]])
* insert OpPart(value, 0, 1, decimal, [[Metric value of the window; absent when not computed.]])
* insert OpPart(n, 1, 1, integer, [[Results behind the value.]])
* insert OpPart(responseOwner, 1, 1, string, [[Role or body that the rule names as responsible for the response.]])
* insert OpPart(responseAction, 1, 1, string, [[The response that the rule documents.]])
* insert OpPart(recorded, 1, 1, dateTime, [[When the event was recorded.]])
* insert OpGroup(feedback, out, 0, *, [[Clinicians' responses to the model's AI results on one UTC day of the period, from CDS Hooks card feedback and Flag $respond.]])
* insert OpPart(day, 1, 1, string, [[UTC day, such as 2026-01-05.]])
* insert OpPart(accepted, 1, 1, integer, [[Accepted cards and acknowledged Flags.]])
* insert OpPart(overridden, 1, 1, integer, [[Overridden cards and Flags.]])
* insert OpPart(overrideRate, 0, 1, decimal, [[overridden / (accepted + overridden); absent when both are 0.]])

Instance: drift
InstanceOf: OperationDefinition
Usage: #definition
* insert OpHeader(drift, Drift, Drift tests of an AI model, Device, [[Per window, the drift tests the analyzers stored for the model version: for each feature (inputs and the outputs output:score and output:entropy) the test, statistic, p-value or distance, threshold, verdict and reference, and the dataset's share of drifted features. The numbers are read from the evaluation store, not recomputed.]])
* affectsState = false
* insert OpParam(window, in, 0, *, string, [[Only these window keys.]])
* insert OpParam(granularity, in, 0, 1, code, [[Window granularity: hour, day (default), week or month.]])
* insert OpParam(reference, in, 0, 1, code, [[period: tests against the pooled reference windows; profile: tests against an uploaded reference profile. Default both.]])
* insert OpParam(feature, in, 0, *, string, [[Only these features, such as age or output:score.]])
* insert OpParam(modelId, out, 1, 1, string, [[Model id of the Device.]])
* insert OpParam(modelVersion, out, 1, 1, string, [[Model version of the Device.]])
* insert OpParam(granularity, out, 1, 1, code, [[Window granularity.]])
* insert OpParam(windowCount, out, 1, 1, integer, [[Number of window parameters.]])
* insert OpGroup(window, out, 0, *, [[One tested window.]])
* insert OpPart(window, 1, 1, string, [[Window key.]])
* insert OpGroupPart(dataset, 0, 1, [[Dataset drift.]])
* insert OpSubPart(driftShare, 0, 1, decimal, [[Share of drifted features.]])
* insert OpSubPart(threshold, 0, 1, decimal, [[Share at or above which the dataset drifted.]])
* insert OpSubPart(detected, 1, 1, boolean, [[Whether the dataset drifted.]])
* insert OpSubPart(n, 1, 1, integer, [[Results in the window.]])
* insert OpGroupPart(feature, 0, *, [[One feature's test.]])
* insert OpSubPart(name, 1, 1, string, [[Feature name.]])
* insert OpSubPart(metric, 1, 1, string, [[Metric document name.]])
* insert OpSubPart(test, 1, 1, code, [[Test name as Evidently names it: ks, z, chisquare, wasserstein, jensenshannon, hellinger or psi.]])
* insert OpSubPart(statistic, 0, 1, decimal, [[Test statistic.]])
* insert OpSubPart(pValue, 0, 1, decimal, [[p-value, for ks, z and chisquare.]])
* insert OpSubPart(distance, 0, 1, decimal, [[Distance, for the other tests.]])
* insert OpSubPart(threshold, 0, 1, decimal, [[Threshold of the p-value or distance.]])
* insert OpSubPart(thresholdMode, 0, 1, code, [[evidently or nannyml.]])
* insert OpSubPart(lowerThreshold, 0, 1, decimal, [[NannyML-style lower limit.]])
* insert OpSubPart(upperThreshold, 0, 1, decimal, [[NannyML-style upper limit.]])
* insert OpSubPart(missingRateReference, 0, 1, decimal, [[Missing-value rate of the reference.]])
* insert OpSubPart(missingRateCurrent, 0, 1, decimal, [[Missing-value rate of the window.]])
* insert OpSubPart(unseenCategory, 0, *, string, [[Category absent from the reference.]])
* insert OpSubPart(n, 1, 1, integer, [[Results in the window.]])
* insert OpSubPart(referenceN, 0, 1, integer, [[Results in the reference.]])
* insert OpSubPart(reference, 1, 1, string, [[The reference: pooled windows or reference profile.]])
* insert OpSubPart(verdict, 1, 1, code, [[drift, no-drift, insufficient-data or not-evaluated.]])

Instance: compliance-report
InstanceOf: OperationDefinition
Usage: #definition
* insert OpHeader(compliance-report, ComplianceReport, Compliance report of an AI model, Device, [[Builds the compliance report of the model for a period: a DiagnosticReport (profile monitoring-compliance-report) with the report as PDF in presentedForm (model identity, monitoring methods and thresholds, results per window, alerts with documented responses, the responses taken, sign-off fields). It is stored with a conditional update on its identifier, so running it again for the same model version and period replaces the earlier report, and the stored report is returned.]])
* affectsState = true
* insert OpParam(start, in, 1, 1, dateTime, [[Start of the period, as a date or dateTime.]])
* insert OpParam(end, in, 1, 1, dateTime, [[End of the period, exclusive.]])
* insert OpParam(signOff, in, 0, *, string, [[Name and role of a person who signs the report off; with at least one the report is final, else preliminary.]])
* insert OpParam(granularity, in, 0, 1, code, [[Window granularity of the results: hour, day (default), week or month.]])
* insert OpParam(return, out, 1, 1, DiagnosticReport, [[The stored compliance report.]])

Instance: explain-flag
InstanceOf: OperationDefinition
Usage: #definition
* insert OpHeader(explain-flag, ExplainFlag, Explain the monitoring Flags of an AI result, Observation, [[Each monitoring Flag on an AI result with why it was raised: for high uncertainty the rules that fired (entropy at or above its threshold, margin below its width) with the entropy, margin and both limits; for model drift the test, statistic, p-value, threshold, window and reference. The model and version come from the result's AI Provenance. A result without Flags returns flagged false; a non-AI Observation is rejected with 400.]])
* affectsState = false
* insert OpParam(result, out, 1, 1, Reference, [[The AI result.]])
* insert OpParam(flagged, out, 1, 1, boolean, [[Whether any monitoring Flag refers to the result.]])
* insert OpParam(message, out, 0, *, string, [[Why the result has no Flag, or why its model is unknown.]])
* insert OpGroup(model, out, 0, 1, [[The model from the AI Provenance.]])
* insert OpPart(device, 1, 1, Reference, [[The model Device.]])
* insert OpPart(modelId, 1, 1, string, [[Model id.]])
* insert OpPart(modelVersion, 1, 1, string, [[Model version.]])
* insert OpPart(name, 1, 1, string, [[Model name.]])
* insert OpGroup(flag, out, 0, *, [[One Flag.]])
* insert OpPart(resource, 1, 1, Reference, [[The Flag.]])
* insert OpPart(code, 0, 1, Coding, [[The Flag's monitoring code.]])
* insert OpPart(status, 1, 1, code, [[The Flag's status.]])
* insert OpPart(reason, 1, 1, string, [[Why the Flag was raised, with the numbers.]])
* insert OpPart(method, 0, *, code, [[Uncertainty method, one per method the result's uncertainty extension records.]])
* insert OpPart(rule, 0, 2, code, [[High-uncertainty rule that raised the Flag: entropy or margin.]])
* insert OpPart(value, 0, 1, decimal, [[Binary entropy of the reported probability, in bits.]])
* insert OpPart(threshold, 0, 1, decimal, [[Entropy threshold in bits, or drift p-value threshold.]])
* insert OpPart(margin, 0, 1, decimal, [[Margin of the reported probability p, |2p - 1|.]])
* insert OpPart(marginWidth, 0, 1, decimal, [[Margin width below which the margin rule fires; 0 when the rule is off.]])
* insert OpPart(mutualInformation, 0, 1, decimal, [[MC dropout mutual information in bits.]])
* insert OpPart(test, 0, 1, code, [[Drift test.]])
* insert OpPart(statistic, 0, 1, decimal, [[Drift test statistic.]])
* insert OpPart(pValue, 0, 1, decimal, [[Drift test p-value.]])
* insert OpPart(window, 0, 1, string, [[Drift window.]])
* insert OpPart(reference, 0, 1, string, [[The reference the window was tested against.]])
* insert OpPart(detected, 0, 1, boolean, [[Whether drift was detected.]])

CodeSystem: MonitoringReportCodes
Id: monitoring-report
Title: "MonitorMed report codes"
Description: "Kinds of report MonitorMed writes about a monitored AI model."
* ^url = "https://monitormed.dev/fhir/CodeSystem/monitoring-report"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #compliance-report "AI model monitoring compliance report" "Per model version and period: the monitoring methods and thresholds, the results per window, the alerts with the responses taken, and sign-off fields."

ValueSet: MonitoringReportKinds
Id: monitoring-report
Title: "MonitorMed report codes"
Description: "All report codes of MonitorMed."
* ^url = "https://monitormed.dev/fhir/ValueSet/monitoring-report"
* ^status = #active
* ^experimental = false
* include codes from system MonitoringReportCodes

Profile: MonitoringComplianceReport
Parent: DiagnosticReport
Id: monitoring-compliance-report
Title: "MonitorMed compliance report"
Description: "The compliance report of one monitored AI model version and period, written by $compliance-report, with the report as PDF."
* insert AiSecurityLabel
* identifier 1..* MS
* identifier ^short = "{modelId}|{modelVersion}|{start}|{end} in https://monitormed.dev/fhir/sid/compliance-report"
* status MS
* code = MonitoringReportCodes#compliance-report
* subject 1..1 MS
* subject only Reference(Device)
* effective[x] 1..1 MS
* effective[x] only Period
* conclusion 1..1 MS
* presentedForm 1..* MS
* presentedForm.contentType 1..1
* presentedForm.contentType = #application/pdf
* presentedForm.data 1..1
