// Aliases shared by the FSH files of this package.
Alias: $ObsValue = http://terminology.hl7.org/CodeSystem/v3-ObservationValue
Alias: $ObsInterpretation = http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation
Alias: $FlagCategory = http://terminology.hl7.org/CodeSystem/flag-category
Alias: $ProvParticipantType = http://terminology.hl7.org/CodeSystem/provenance-participant-type
Alias: $UCUM = http://unitsofmeasure.org
Alias: $FlagDetail = http://hl7.org/fhir/StructureDefinition/flag-detail
Alias: $CertaintyRating = http://terminology.hl7.org/ValueSet/certainty-rating
Alias: $ModelId = https://monitormed.dev/fhir/sid/model-id
Alias: $Hl7ResultId = https://monitormed.dev/fhir/sid/hl7v2-result
Alias: $FlagId = https://monitormed.dev/fhir/sid/monitoring-flag
Alias: $FdaSubmission = https://monitormed.dev/fhir/sid/fda-submission
Alias: $DicomUid = urn:dicom:uid
Alias: $MetricObservationId = https://monitormed.dev/fhir/sid/monitoring-metric
Alias: $DeviceMetricId = https://monitormed.dev/fhir/sid/device-metric
