// Metric time series of a monitored model: a DeviceMetric per model Device and metric, and an Observation
// per metric, window and subgroup, as analyzers/src/fhir/metric-observations.ts writes them. They are
// MonitorMed's own measurements computed from the model's outputs, not output of the model, so they carry
// no AIAST label; the AI results they summarise do.

CodeSystem: MonitoringMetrics
Id: monitoring-metric
Title: "MonitorMed monitoring metrics"
Description: "Metrics that MonitorMed computes per model version, window and subgroup (the metric field of its metric documents). Per-feature metrics use the family code and name the feature in a component."
* ^url = "https://monitormed.dev/fhir/CodeSystem/monitoring-metric"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #result-count "Result count" "Number of AI results in the window."
* #output-score-mean "Mean output score" "Mean of the model's probability outputs in the window."
* #output-entropy-mean "Mean output entropy" "Mean binary entropy, in bits, of the model's probability outputs in the window, from the rolled-up sketch."
* #uncertainty-entropy-mean "Mean result uncertainty" "Mean binary entropy, in bits, of the results the drift evaluation read for the window."
* #output-drift-ks "Output drift, KS p-value" "p-value of the two-sample Kolmogorov-Smirnov test of the window's output scores against the pooled reference windows."
* #output-psi "Output population stability index" "Population stability index of the window's output scores against the reference, with Sturges bins."
* #uncertainty-drift-ks "Uncertainty drift, KS p-value" "p-value of the two-sample Kolmogorov-Smirnov test of the window's result entropies against the reference's."
* #mc-uncertainty-drift-ks "MC dropout uncertainty drift, KS p-value" "p-value of the two-sample Kolmogorov-Smirnov test of the window's MC dropout mutual information against the reference's."
* #feature-drift-share "Share of drifted features" "Share of the tested input features whose drift test detected drift in the window."
* #feature-mean "Feature mean" "Mean of one numerical input feature in the window."
* #feature-missing-rate "Feature missing rate" "Share of the window's results in which one input feature is missing."
* #feature-drift "Feature drift" "p-value or distance of the drift test that Evidently's automatic choice picks for one input feature."
* #performance-sensitivity "Sensitivity" "True positives over labelled positives, positive at the model's threshold."
* #performance-specificity "Specificity" "True negatives over labelled negatives, positive at the model's threshold."
* #performance-ppv "Positive predictive value" "True positives over predicted positives."
* #performance-npv "Negative predictive value" "True negatives over predicted negatives."
* #performance-auroc "AUROC" "Area under the ROC curve of the scores against the labels, with a DeLong interval."
* #performance-average-precision "Average precision" "Area under the precision-recall curve, as the step-wise average precision."
* #performance-brier "Brier score" "Mean squared difference between the scores and the labels."
* #performance-ece "Expected calibration error" "Weighted mean absolute difference between mean score and positive rate over equal-width bins."
* #performance-calibration-slope "Calibration slope" "Slope of the logistic regression of the labels on the logit of the scores."
* #performance-calibration-intercept "Calibration intercept" "Intercept of the logistic regression of the labels on the logit of the scores."
* #cbpe-auroc "Estimated AUROC (CBPE)" "AUROC estimated without labels by confidence-based performance estimation on calibrated scores."
* #cbpe-sensitivity "Estimated sensitivity (CBPE)" "Sensitivity estimated without labels by confidence-based performance estimation."
* #cbpe-specificity "Estimated specificity (CBPE)" "Specificity estimated without labels by confidence-based performance estimation."
* #cbpe-ppv "Estimated PPV (CBPE)" "Positive predictive value estimated without labels by confidence-based performance estimation."
* #cbpe-npv "Estimated NPV (CBPE)" "Negative predictive value estimated without labels by confidence-based performance estimation."
* #cbpe-accuracy "Estimated accuracy (CBPE)" "Accuracy estimated without labels by confidence-based performance estimation."
* #override-rate "Override rate" "Share of the CDS Hooks cards for the model's results that clinicians overrode."
* #label-latency-hours-median "Median label latency" "Median time, in hours, from an AI result to the ground-truth evidence that labelled it."

ValueSet: MonitoringMetricCodes
Id: monitoring-metric
Title: "MonitorMed monitoring metrics"
Description: "All metrics MonitorMed may record."
* ^url = "https://monitormed.dev/fhir/ValueSet/monitoring-metric"
* ^status = #active
* ^experimental = false
* include codes from system MonitoringMetrics

CodeSystem: MetricComponents
Id: metric-component
Title: "MonitorMed metric Observation components"
Description: "Codes of the components of a MonitorMed metric Observation and of the basis of a metric value."
* ^url = "https://monitormed.dev/fhir/CodeSystem/metric-component"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #sample-size "Sample size" "Number of results (or labelled results, for measured performance) behind the value."
* #subgroup "Subgroup" "Population subgroup of the value, such as all or sex:female."
* #feature "Feature" "Input feature of a per-feature metric, such as age."
* #interval-low "Interval lower bound" "Lower bound of the value's 95% interval."
* #interval-high "Interval upper bound" "Upper bound of the value's 95% interval."
* #basis "Basis" "Whether the value was measured against labels or estimated without them."
* #measured "Measured" "Computed from ground-truth labels or from the results themselves."
* #estimated "Estimated" "Estimated without labels, for example by CBPE, under the assumptions the analyzer states."

ValueSet: MetricBasisCodes
Id: metric-basis
Title: "MonitorMed metric basis"
Description: "Whether a metric value was measured or estimated."
* ^url = "https://monitormed.dev/fhir/ValueSet/metric-basis"
* ^status = #active
* ^experimental = false
* MetricComponents#measured
* MetricComponents#estimated

CodeSystem: MonitoringStatusCodes
Id: monitoring-status
Title: "MonitorMed monitoring status"
Description: "Overall monitoring status of a model, from its alert rules."
* ^url = "https://monitormed.dev/fhir/CodeSystem/monitoring-status"
* ^status = #active
* ^experimental = false
* ^caseSensitive = true
* ^content = #complete
* #ok "OK" "No alert rule of the model fires in the evaluated window."
* #warning "Warning" "At least one alert rule of warning severity fires, and none of critical severity."
* #critical "Critical" "At least one alert rule of critical severity fires."

ValueSet: MonitoringStatusValues
Id: monitoring-status
Title: "MonitorMed monitoring status"
Description: "All monitoring status codes."
* ^url = "https://monitormed.dev/fhir/ValueSet/monitoring-status"
* ^status = #active
* ^experimental = false
* include codes from system MonitoringStatusCodes

Extension: AiPerformance
Id: ai-performance
Title: "AI model performance"
Description: "One performance metric of a monitored model in a window and subgroup, measured against labels or estimated without them."
Context: Device, Observation, DeviceMetric
* ^url = "https://monitormed.dev/fhir/StructureDefinition/ai-performance"
* extension contains
    metric 1..1 and
    value 1..1 and
    intervalLow 0..1 and
    intervalHigh 0..1 and
    n 1..1 and
    basis 1..1 and
    window 1..1 and
    subgroup 1..1
* extension[metric].value[x] only code
* extension[metric].valueCode from MonitoringMetricCodes (required)
* extension[value].value[x] only decimal
* extension[intervalLow] ^short = "Lower bound of the 95% interval"
* extension[intervalLow].value[x] only decimal
* extension[intervalHigh] ^short = "Upper bound of the 95% interval"
* extension[intervalHigh].value[x] only decimal
* extension[n] ^short = "Results behind the value"
* extension[n].value[x] only integer
* extension[basis].value[x] only code
* extension[basis].valueCode from MetricBasisCodes (required)
* extension[window] ^short = "Window key, such as the UTC day YYYY-MM-DD"
* extension[window].value[x] only string
* extension[subgroup].value[x] only string

Extension: MonitoringStatus
Id: monitoring-status
Title: "AI model monitoring status"
Description: "The monitoring status of a model and the alert rule that set it."
Context: Device, Observation
* ^url = "https://monitormed.dev/fhir/StructureDefinition/monitoring-status"
* extension contains status 1..1 and rule 0..* and window 0..1
* extension[status].value[x] only code
* extension[status].valueCode from MonitoringStatusValues (required)
* extension[rule] ^short = "Id of an alert rule that fires; absent when the status is ok"
* extension[rule].value[x] only string
* extension[window].value[x] only string

Profile: MonitoringDeviceMetric
Parent: DeviceMetric
Id: monitoring-device-metric
Title: "MonitorMed metric of a monitored AI model"
Description: "One metric that MonitorMed measures on a monitored model Device; its values are MonitoringMetricObservations."
* identifier 1..*
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier contains metricKey 1..1 MS
* identifier[metricKey].system 1..1
* identifier[metricKey].system = $DeviceMetricId
* identifier[metricKey].value 1..1
* identifier[metricKey] ^short = "{modelId}|{metric}"
* type MS
* type from MonitoringMetricCodes (required)
* source 1..1 MS
* source only Reference(MonitoredAIDevice)
* category MS
* category = #measurement

Profile: MonitoringMetricObservation
Parent: Observation
Id: monitoring-metric-observation
Title: "MonitorMed metric value of a monitored AI model"
Description: "The value of one metric of a monitored model version in one window and subgroup. Not labelled AIAST: MonitorMed computes it from the AI results, the AI model does not assert it."
* identifier 1..*
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier contains metricKey 1..1 MS
* identifier[metricKey].system 1..1
* identifier[metricKey].system = $MetricObservationId
* identifier[metricKey].value 1..1
* identifier[metricKey] ^short = "{modelId}|{modelVersion}|{metric}|{subgroup}|{window}, so a rerun updates the Observation"
* status MS
* code MS
* code from MonitoringMetricCodes (required)
* subject 0..0
* focus 1..1 MS
* focus only Reference(MonitoredAIDevice)
* device 1..1 MS
* device only Reference(MonitoringDeviceMetric)
* effective[x] 1..1 MS
* effective[x] only Period
* effectivePeriod.start 1..1
* effectivePeriod.end 1..1
* value[x] only Quantity
* valueQuantity.system 1..1
* valueQuantity.system = $UCUM
* valueQuantity.code 1..1
* obeys mm-value-or-absent
* component ^slicing.discriminator.type = #pattern
* component ^slicing.discriminator.path = "code"
* component ^slicing.rules = #open
* component contains
    sampleSize 1..1 MS and
    subgroup 1..1 MS and
    feature 0..1 MS and
    intervalLow 0..1 MS and
    intervalHigh 0..1 MS and
    basis 0..1 MS
* component[sampleSize].code = MetricComponents#sample-size
* component[sampleSize].value[x] only integer
* component[subgroup].code = MetricComponents#subgroup
* component[subgroup].value[x] only string
* component[feature].code = MetricComponents#feature
* component[feature].value[x] only string
* component[intervalLow].code = MetricComponents#interval-low
* component[intervalLow].value[x] only Quantity
* component[intervalHigh].code = MetricComponents#interval-high
* component[intervalHigh].value[x] only Quantity
* component[basis].code = MetricComponents#basis
* component[basis].value[x] only CodeableConcept
* component[basis].valueCodeableConcept from MetricBasisCodes (required)

Invariant: mm-value-or-absent
Description: "A metric Observation has a value, or a dataAbsentReason when the window had too few results to compute it."
Expression: "value.exists() xor dataAbsentReason.exists()"
Severity: #error
