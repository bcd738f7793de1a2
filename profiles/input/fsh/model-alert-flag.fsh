// The Flag that the analyzers' alerts job raises on a monitored model (analyzers/src/alerts/device-flag.ts).

Profile: ModelAlertFlag
Parent: Flag
Id: model-alert-flag
Title: "MonitorMed model alert Flag"
Description: "A Flag that MonitorMed raises when an alert rule on a monitored AI model fires: a performance, calibration or override metric of one subgroup stayed past its threshold for the rule's number of windows. R4 does not allow a Device as Flag.subject, so the subject is a device Group whose member is the model Device, and the author is that Device. The status becomes inactive when the metric recovers."
* insert AiSecurityLabel
* identifier 1..*
* identifier ^slicing.discriminator.type = #value
* identifier ^slicing.discriminator.path = "system"
* identifier ^slicing.rules = #open
* identifier contains alertKey 1..1 MS
* identifier[alertKey].system 1..1
* identifier[alertKey].system = $FlagId
* identifier[alertKey].value 1..1
* identifier[alertKey] ^short = "{ruleId}|{modelId}|{subgroup}, so that one Flag exists per alert rule, model and subgroup"
* status MS
* category 1..* MS
* category = $FlagCategory#safety
* code MS
* code = MonitoringCodes#model-alert
* code.text MS
* code.text ^short = "The rule, the subgroup, and the documented response with its owner"
* subject MS
* subject only Reference(Group)
* author 1..1 MS
* author only Reference(Device)
* author ^short = "The monitored AI model's Device"
* period.start 1..1 MS
* period.start ^short = "When the alert opened"
