/**
 * The compliance report as PDF, drawn with pdfkit (maintained, with built-in tables since 0.17 and the
 * 14 standard PDF fonts, so no font file is needed): model identity, monitoring methods and thresholds,
 * results per window, alerts with their documented responses, the responses taken, and sign-off fields.
 */
import type { OverrideRate } from '@monitormed/common';
import PDFDocument from 'pdfkit';
import type { ModelIdentity } from './fhir-reads.js';
import type { ModelStatus, StatusThresholds } from './metric-status.js';

/** One table row of the results: a metric value in a window and subgroup. */
export interface ReportRow {
  window: string;
  subgroup: string;
  metric: string;
  value: string;
  n: string;
  threshold: string;
  status: string;
}

/** One alert: a window where a rule fired. */
export interface ReportAlert {
  window: string;
  metric: string;
  subgroup: string;
  status: string;
  /** The documented response, or the statement that none is recorded. */
  response: string;
  /** Rule id of an alert event; undefined for a status finding that no rule covers. */
  ruleId?: string;
}

/** Content of the compliance report. */
export interface ComplianceContent {
  model: ModelIdentity;
  periodStart: string;
  periodEnd: string;
  generatedAt: string;
  granularity: string;
  thresholds: StatusThresholds;
  status: ModelStatus;
  rows: ReportRow[];
  alerts: ReportAlert[];
  /** Clinicians' accepted and overridden AI results and Flags per day of the period. */
  feedback: OverrideRate[];
  /** Names of the people who sign off, printed with blank signature and date lines. */
  signOff: string[];
}

/** States the two high-uncertainty rules with the limits in force. */
function uncertaintyRule(thresholds: StatusThresholds): string {
  // pdfkit encodes the standard fonts in WinAnsi, which has no U+2212 minus sign, so the text uses a hyphen.
  const entropy = `Binary predictive entropy of each reported probability p, in bits, and its margin |2p - 1|. A result gets a high-uncertainty Flag when its entropy is at or above ${thresholds.uncertaintyThresholdBits} bits`;
  return thresholds.uncertaintyMarginWidth === 0
    ? `${entropy} (the margin rule is off).`
    : `${entropy} or its margin is below ${thresholds.uncertaintyMarginWidth}.`;
}

function heading(doc: PDFKit.PDFDocument, text: string): void {
  doc
    .moveDown(0.8)
    .font('Helvetica-Bold')
    .fontSize(13)
    .text(text)
    .font('Helvetica')
    .fontSize(10)
    .moveDown(0.3);
}

function table(doc: PDFKit.PDFDocument, header: string[], rows: string[][]): void {
  doc.table({
    data: [header.map((text) => ({ text, font: { src: 'Helvetica-Bold' } })), ...rows],
  });
  doc.x = doc.page.margins.left;
}

/**
 * Renders the responses taken: the clinicians' responses to AI results, counted from CDS Hooks card
 * feedback and Flag $respond, and a line per opened alert for the response that the reviewers record.
 */
function renderResponsesTaken(doc: PDFKit.PDFDocument, content: ComplianceContent): void {
  heading(doc, 'Responses taken');
  if (content.feedback.length === 0) {
    doc.text('No clinician accepted or overrode an AI result or Flag of this model in the period.');
  } else {
    table(
      doc,
      ['Day', 'Accepted', 'Overridden', 'Override rate'],
      content.feedback.map((day) => [
        day.day,
        String(day.accepted),
        String(day.overridden),
        day.overrideRate === undefined ? '-' : day.overrideRate.toFixed(2),
      ])
    );
  }
  const opened = content.alerts.filter(
    (alert) => alert.ruleId !== undefined && alert.status.startsWith('opened')
  );
  for (const alert of opened) {
    doc
      .moveDown(0.5)
      .text(`Response taken to alert ${alert.ruleId ?? ''} (${alert.window}, subgroup ${alert.subgroup}):`)
      .text('______________________________________________   By: ______________   Date: ____________');
  }
}

/**
 * Renders the compliance report.
 * @returns The PDF bytes.
 */
export async function renderCompliancePdf(content: ComplianceContent): Promise<Buffer> {
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    info: {
      Title: `MonitorMed compliance report: ${content.model.name}`,
      Author: 'MonitorMed',
      Subject: `${content.model.modelId} ${content.model.modelVersion}, ${content.periodStart} to ${content.periodEnd}`,
    },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const finished = new Promise<void>((resolve, reject) => {
    doc.on('end', resolve);
    doc.on('error', reject);
  });

  doc.font('Helvetica-Bold').fontSize(18).text('MonitorMed AI model compliance report');
  doc
    .font('Helvetica')
    .fontSize(10)
    .text(`Period ${content.periodStart} to ${content.periodEnd}; generated ${content.generatedAt}.`);

  heading(doc, 'Model identity');
  table(
    doc,
    ['Field', 'Value'],
    [
      ['Name', content.model.name],
      ['Model id', content.model.modelId],
      ['Version', content.model.modelVersion],
      ['Manufacturer', content.model.manufacturer ?? 'not recorded on the Device'],
      ['FDA submission number', content.model.fdaSubmissionNumber ?? 'not recorded on the Device'],
      ['Intended use', content.model.intendedUse ?? 'not recorded on the Device'],
      ['Device', `Device/${content.model.deviceId}`],
    ]
  );

  heading(doc, 'Monitoring methods and thresholds');
  table(
    doc,
    ['Method', 'Rule'],
    [
      ['Uncertainty', uncertaintyRule(content.thresholds)],
      [
        'Output drift',
        `Two-sample Kolmogorov-Smirnov test of each ${content.granularity} window's scores against the pooled reference windows; drift when p < ${content.thresholds.driftPThreshold}.`,
      ],
      [
        'Input drift',
        "Per-feature tests chosen as Evidently does (KS, chi-square or Z below 1,000 reference rows, else normed Wasserstein or Jensen-Shannon), with the dataset's share of drifted features.",
      ],
      [
        'Performance, measured',
        'Against the ground-truth labels linked to each result: sensitivity, specificity, PPV and NPV at the positive threshold with Wilson 95% intervals, and AUROC with DeLong 95% intervals.',
      ],
      [
        'Performance, estimated',
        'Confidence-based performance estimation (CBPE) from the scores alone, calibrated on a labelled reference period; the band is the estimate plus or minus 3 sampling errors.',
      ],
      [
        'Alert rules',
        "An alert opens when a metric breaches its rule for the rule's number of consecutive windows, and records the rule's documented response.",
      ],
      [
        'Model status',
        'Detected output drift is critical; other detected drift and a mean entropy at or above the uncertainty threshold are warnings.',
      ],
    ]
  );

  heading(doc, 'Results per window');
  doc.text(`Status: ${content.status.status.toUpperCase()}. ${content.status.rule}`).moveDown(0.3);
  if (content.rows.length === 0) {
    doc.text('No metric values were stored for this model version in the period.');
  } else {
    table(
      doc,
      ['Window', 'Subgroup', 'Metric', 'Value', 'n', 'Threshold', 'Status'],
      content.rows.map((row) => [
        row.window,
        row.subgroup,
        row.metric,
        row.value,
        row.n,
        row.threshold,
        row.status,
      ])
    );
  }

  heading(doc, 'Alerts and documented responses');
  if (content.alerts.length === 0) {
    doc.text('No rule fired in the period.');
  } else {
    table(
      doc,
      ['Window', 'Subgroup', 'Metric', 'Status', 'Documented response'],
      content.alerts.map((alert) => [
        alert.window,
        alert.subgroup,
        alert.metric,
        alert.status,
        alert.response,
      ])
    );
  }

  renderResponsesTaken(doc, content);

  heading(doc, 'Sign-off');
  const signers = content.signOff.length > 0 ? content.signOff : ['Name: ______________________'];
  for (const signer of signers) {
    doc.text(signer).text('Signature: ______________________   Date: ____________').moveDown(0.5);
  }

  doc.end();
  await finished;
  return Buffer.concat(chunks);
}
