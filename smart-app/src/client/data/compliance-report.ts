/** Builds the `$compliance-report` request and reads the PDF out of the DiagnosticReport it returns. */
import type { DiagnosticReport, Parameters } from '@medplum/fhirtypes';

/** The period and sign-off that the user enters. Days are `YYYY-MM-DD`. */
export interface ReportPeriod {
  start: string;
  end: string;
  /** Comma-separated names. Each becomes one `signOff` parameter. */
  signOff: string;
}

/** Splits the comma-separated sign-off names, dropping empty ones. */
export function signOffNames(period: ReportPeriod): string[] {
  return period.signOff
    .split(',')
    .map((item) => item.trim())
    .filter((name) => name !== '');
}

/** Builds the path of `$compliance-report` on a model Device. */
export function complianceReportPath(deviceId: string): string {
  return `Device/${encodeURIComponent(deviceId)}/$compliance-report`;
}

/**
 * Builds the POST body of `$compliance-report`. POST, because the operation stores a report and
 * FHIR R4 operations that change state are invoked with POST.
 */
export function buildComplianceReportParameters(period: ReportPeriod): Parameters {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'start', valueDate: period.start },
      { name: 'end', valueDate: period.end },
      ...signOffNames(period).map((name) => ({ name: 'signOff', valueString: name })),
    ],
  };
}

/** Returns the bytes of the report's first `application/pdf` presentedForm, or undefined without one. */
export function pdfOf(report: DiagnosticReport): Uint8Array<ArrayBuffer> | undefined {
  const form = report.presentedForm?.find((attachment) => attachment.contentType === 'application/pdf');
  if (form?.data === undefined) {
    return undefined;
  }
  const binary = atob(form.data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return bytes;
}
