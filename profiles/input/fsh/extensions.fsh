// MonitorMed's extensions on an AI result Observation. They must match what
// analyzers/src/fhir/extensions.ts writes: the URLs are UNCERTAINTY_EXTENSION and DRIFT_EXTENSION of
// common/src/fhir-codes.ts, and the sub-extension names and types are those of
// buildUncertaintyExtension() and buildDriftExtension().

Extension: AiUncertainty
Id: ai-uncertainty
Title: "AI result uncertainty"
Description: "The uncertainty that MonitorMed computed for an AI result, with the method and the analyzer version that computed it."
Context: Observation
* ^url = "https://monitormed.dev/fhir/StructureDefinition/ai-uncertainty"
* extension contains
    method 1..* and
    value 1..1 and
    analyzerVersion 1..1 and
    margin 0..1 and
    entropyThreshold 0..1 and
    marginWidth 0..1 and
    flaggedBy 0..2 and
    samples 0..1 and
    surrogateVersion 0..1 and
    mean 0..1 and
    std 0..1 and
    predictiveEntropy 0..1 and
    mutualInformation 0..1
* extension[method] ^short = "Uncertainty method whose values the extension records, one per method"
* extension[method] ^definition = "Each uncertainty method whose values the extension records. The first repetition is mc-dropout when the MC dropout values are present, else entropy."
* extension[method].value[x] only code
* extension[method].valueCode from UncertaintyMethodCodes (required)
* extension[value] ^short = "Binary entropy of the reported probability, in bits from 0 to 1, for every method"
* extension[value].value[x] only decimal
* extension[analyzerVersion] ^short = "Name and version of the analyzer that computed the value"
* extension[analyzerVersion].value[x] only string
* extension[margin] ^short = "margin: |2p - 1| of the reported probability p, the difference of the two class probabilities, from 0 to 1"
* extension[margin].value[x] only decimal
* extension[entropyThreshold] ^short = "Entropy in bits at or above which the entropy rule raised a high-uncertainty Flag when the result was analysed"
* extension[entropyThreshold].value[x] only decimal
* extension[marginWidth] ^short = "Margin below which the margin rule raised a high-uncertainty Flag when the result was analysed; 0 means the rule was off"
* extension[marginWidth].value[x] only decimal
* extension[flaggedBy] ^short = "Rule that raised the high-uncertainty Flag: entropy (value >= entropyThreshold) or margin (margin < marginWidth)"
* extension[flaggedBy] ^definition = "Each rule that fired when the result was analysed. Absent when no rule fired, so the result was not flagged for high uncertainty by that analysis."
* extension[flaggedBy].value[x] only code
* extension[flaggedBy].valueCode from UncertaintyFlagRuleCodes (required)
* extension[samples] ^short = "Number of samples, for methods that sample the model"
* extension[samples].value[x] only integer
* extension[surrogateVersion] ^short = "Version of the surrogate model, for methods that use one"
* extension[surrogateVersion].value[x] only string
* extension[mean] ^short = "mc-dropout: mean of the surrogate's probabilities over the samples"
* extension[mean].value[x] only decimal
* extension[std] ^short = "mc-dropout: standard deviation (divisor T) of the surrogate's probabilities"
* extension[std].value[x] only decimal
* extension[predictiveEntropy] ^short = "mc-dropout: binary entropy of the mean probability, in bits"
* extension[predictiveEntropy].value[x] only decimal
* extension[mutualInformation] ^short = "mutual-information: predictive entropy minus the mean per-sample entropy (BALD), in bits"
* extension[mutualInformation].value[x] only decimal

Extension: AiDrift
Id: ai-drift
Title: "AI model drift status"
Description: "The drift status of the model that produced an AI result, tested over the window (UTC day) of the result's effectiveDateTime."
Context: Observation
* ^url = "https://monitormed.dev/fhir/StructureDefinition/ai-drift"
* extension contains
    test 1..1 and
    statistic 1..1 and
    pValue 1..1 and
    threshold 1..1 and
    window 1..1 and
    reference 0..1 and
    detected 1..1
* extension[test] ^short = "Drift test, such as ks"
* extension[test].value[x] only code
* extension[test].valueCode from DriftTestCodes (required)
* extension[statistic] ^short = "Test statistic; for ks, the distance D from 0 to 1"
* extension[statistic].value[x] only decimal
* extension[pValue] ^short = "p-value of the test"
* extension[statistic] ^definition = "The test statistic of the evaluation that last changed the verdict, threshold or reference written here. Later evaluations of the window that keep the verdict do not rewrite the result; the window's latest statistic is in its metric Observation."
* extension[pValue] ^definition = "The p-value of the evaluation that last changed the verdict, threshold or reference written here; the window's latest is in its metric Observation."
* extension[pValue].value[x] only decimal
* extension[threshold] ^short = "p-value below which drift counts as detected"
* extension[threshold].value[x] only decimal
* extension[window] ^short = "Tested window, a UTC day as YYYY-MM-DD"
* extension[window].value[x] only string
* extension[reference] ^short = "What the window was tested against: the model version's reference windows, pooled"
* extension[reference] ^definition = "The reference sample of the test: the keys of the model version's first windows, whose results are pooled, and the number of results in the pool. Absent only on extensions written before MonitorMed recorded it."
* extension[reference].extension contains
    window 1..* and
    n 1..1
* extension[reference].extension[window] ^short = "Key of one reference window, a UTC day as YYYY-MM-DD"
* extension[reference].extension[window].value[x] only string
* extension[reference].extension[n] ^short = "Results in the pooled reference"
* extension[reference].extension[n].value[x] only integer
* extension[detected] ^short = "Whether drift was detected in the window"
* extension[detected].value[x] only boolean
