/** Builds the `$compliance-report` request and reads the PDF out of the DiagnosticReport it returns. */
import type { DiagnosticReport } from '@medplum/fhirtypes';

/** The period and sign-off that the user enters. Days are `YYYY-MM-DD`. */
export interface ReportPeriod {
  start: string;
  end: string;
  /** Comma-separated names. Each becomes one `signOff` parameter. */
  signOff: string;
}

/** Builds `Device/{id}/$compliance-report?start=…&end=…&signOff=…` for a GET request. */
export function buildComplianceReportQuery(deviceId: string, period: ReportPeriod): string {
  const params = new URLSearchParams({ start: period.start, end: period.end });
  for (const name of period.signOff.split(',').map((item) => item.trim())) {
    if (name !== '') {
      params.append('signOff', name);
    }
  }
  return `Device/${encodeURIComponent(deviceId)}/$compliance-report?${params.toString()}`;
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
