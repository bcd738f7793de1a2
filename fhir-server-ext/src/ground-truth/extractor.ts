/**
 * Rule-based label extractor for report text: finds the target terms (such as pneumothorax synonyms) and
 * decides for each mention whether it is affirmed, negated, uncertain or historical, with NegEx/ConText
 * triggers and scopes (see triggers.ts). Mentions in the impression win over the findings, and history,
 * indication and technique sections are ignored.
 *
 * Known limits: the scope of a trigger runs to the sentence end unless a termination term stops it, so
 * "no effusion, small pneumothorax" reads as negated. Only English wording is covered, and spelling
 * errors or abbreviations outside the term lists are missed.
 */
import { SECTION_HEADERS, TRIGGERS, type ReportSection, type TriggerKind } from './triggers.js';

/** Version stored with every label the extractor produced; change it when the rules change. */
export const EXTRACTOR_VERSION = '1.0.0';

/** Status of one target mention. */
export type MentionStatus = 'affirmed' | 'negated' | 'uncertain' | 'historical';

/** Label of a whole report for one target; `none` when no usable mention exists. */
export type ReportLabel = 'positive' | 'negative' | 'uncertain' | 'none';

/** One part of a report to read, such as DiagnosticReport.conclusion or a presentedForm attachment. */
export interface ReportTextPart {
  /** Name of the FHIR element the text comes from; offsets are relative to this text. */
  field: string;
  text: string;
  /** Section of text before any header; DiagnosticReport.conclusion is an impression. */
  defaultSection: ReportSection;
}

/** One target term found in the text. */
export interface Mention {
  field: string;
  /** Offsets of the matched term in the part's text, end exclusive. */
  start: number;
  end: number;
  section: ReportSection;
  status: MentionStatus;
  /** Trigger kind that decided the status, or `affirmed` when none applied. */
  rule: TriggerKind | 'affirmed';
  /** Trigger phrase, a fixed term of triggers.ts and never report text. */
  trigger?: string;
}

/** Outcome of {@link extractReportLabel}. */
export interface ExtractionResult {
  label: ReportLabel;
  /** The mention that decided the label, absent when the label is `none`. */
  decisive?: Mention;
  /** Every mention found, including ignored ones. */
  mentions: Mention[];
  extractorVersion: string;
}

interface Match {
  kind: TriggerKind;
  phrase: string;
  start: number;
  end: number;
}

const patternCache = new Map<string, RegExp>();

/** Builds a case-insensitive regex that matches the phrase on word boundaries, any whitespace between words. */
function phrasePattern(phrase: string): RegExp {
  let pattern = patternCache.get(phrase);
  if (pattern === undefined) {
    const body = phrase
      .trim()
      .split(/\s+/)
      .map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('\\s+');
    pattern = new RegExp(`(?<![\\p{L}\\p{N}])${body}(?![\\p{L}\\p{N}])`, 'giu');
    patternCache.set(phrase, pattern);
  }
  pattern.lastIndex = 0;
  return pattern;
}

function findPhrases(text: string, phrases: readonly string[], kind: TriggerKind): Match[] {
  const matches: Match[] = [];
  for (const phrase of phrases) {
    const pattern = phrasePattern(phrase);
    for (const found of text.matchAll(pattern)) {
      matches.push({ kind, phrase, start: found.index, end: found.index + found[0].length });
    }
  }
  return matches;
}

/**
 * Keeps the longest matches that do not overlap. Matches with the same span are all kept, so a phrase
 * listed as both a pre- and a post-trigger acts in both directions.
 */
function keepLongest(matches: Match[]): Match[] {
  const sorted = [...matches].sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
  const accepted: Match[] = [];
  for (const match of sorted) {
    const clash = accepted.some(
      (other) =>
        match.start < other.end &&
        other.start < match.end &&
        !(match.start === other.start && match.end === other.end)
    );
    if (!clash) {
      accepted.push(match);
    }
  }
  return accepted.sort((a, b) => a.start - b.start);
}

/** Sentence spans: text between `.` `;` `!` `?` followed by whitespace, or line breaks. */
function sentenceSpans(text: string): { start: number; end: number }[] {
  const spans: { start: number; end: number }[] = [];
  const boundary = /[.;!?](?=\s|$)|\n/g;
  let start = 0;
  for (const found of text.matchAll(boundary)) {
    spans.push({ start, end: found.index });
    start = found.index + found[0].length;
  }
  spans.push({ start, end: text.length });
  return spans.filter((span) => span.end > span.start);
}

/** Start offsets of section headers such as `IMPRESSION:` at the start of a line. */
function sectionStarts(text: string): { offset: number; section: ReportSection }[] {
  const names = Object.keys(SECTION_HEADERS)
    .sort((a, b) => b.length - a.length)
    .map((name) => name.replace(/ /g, '\\s+'));
  const header = new RegExp(`^[ \\t]*(${names.join('|')})[ \\t]*:`, 'gimu');
  const starts: { offset: number; section: ReportSection }[] = [];
  for (const found of text.matchAll(header)) {
    const name = (found[1] ?? '').toLowerCase().replace(/\s+/g, ' ');
    const section = SECTION_HEADERS[name];
    if (section !== undefined) {
      starts.push({ offset: found.index + found[0].length, section });
    }
  }
  return starts;
}

function sectionAt(
  offset: number,
  starts: { offset: number; section: ReportSection }[],
  fallback: ReportSection
): ReportSection {
  let section = fallback;
  for (const start of starts) {
    if (start.offset <= offset) {
      section = start.section;
    }
  }
  return section;
}

/** Tells whether a termination term lies between `from` and `to`, which ends the scope of a trigger. */
function terminated(terminations: Match[], from: number, to: number): boolean {
  return terminations.some((term) => term.start >= from && term.end <= to);
}

/** Finds the nearest trigger of the kinds whose scope reaches the target. */
function findScopingTrigger(
  triggers: Match[],
  terminations: Match[],
  target: { start: number; end: number },
  preKind: TriggerKind,
  postKind: TriggerKind | undefined
): Match | undefined {
  const before = triggers
    .filter(
      (t) => t.kind === preKind && t.end <= target.start && !terminated(terminations, t.end, target.start)
    )
    .at(-1);
  if (before !== undefined || postKind === undefined) {
    return before;
  }
  return triggers.find(
    (t) => t.kind === postKind && t.start >= target.end && !terminated(terminations, target.end, t.start)
  );
}

/** Decides the status of one mention; negation wins over uncertainty, and uncertainty over history. */
function classify(
  triggers: Match[],
  terminations: Match[],
  target: { start: number; end: number }
): { status: MentionStatus; rule: TriggerKind | 'affirmed'; trigger?: string } {
  const checks: [MentionStatus, TriggerKind, TriggerKind | undefined][] = [
    ['negated', 'pre-negation', 'post-negation'],
    ['uncertain', 'pre-uncertainty', 'post-uncertainty'],
    ['historical', 'pre-historical', undefined],
  ];
  for (const [status, preKind, postKind] of checks) {
    const trigger = findScopingTrigger(triggers, terminations, target, preKind, postKind);
    if (trigger !== undefined) {
      const rule = trigger.end <= target.start ? preKind : (postKind ?? preKind);
      return { status, rule, trigger: trigger.phrase };
    }
  }
  return { status: 'affirmed', rule: 'affirmed' };
}

/**
 * Finds the target mentions of one text part and classifies each.
 * @param part - The text with its field name and default section.
 * @param targetTerms - Synonyms of the target finding, such as `pneumothorax` and `ptx`.
 * @returns The mentions, in text order.
 */
export function findMentions(part: ReportTextPart, targetTerms: readonly string[]): Mention[] {
  const sections = sectionStarts(part.text);
  const mentions: Mention[] = [];

  for (const sentence of sentenceSpans(part.text)) {
    const text = part.text.slice(sentence.start, sentence.end);

    // Pseudo-triggers take part in the longest-match step, so they mask the shorter triggers inside them.
    const all = keepLongest(
      (Object.keys(TRIGGERS) as TriggerKind[]).flatMap((kind) => findPhrases(text, TRIGGERS[kind], kind))
    );
    const terminations = all.filter((m) => m.kind === 'termination');
    const triggers = all.filter((m) => m.kind !== 'termination');

    // Target terms may overlap trigger words ("resolved pneumothorax"), so they are matched separately.
    const targets = keepLongest(findPhrases(text, targetTerms, 'termination'));
    for (const target of targets) {
      const outcome = classify(triggers, terminations, target);
      const start = sentence.start + target.start;
      mentions.push({
        field: part.field,
        start,
        end: sentence.start + target.end,
        section: sectionAt(start, sections, part.defaultSection),
        ...outcome,
      });
    }
  }
  return mentions;
}

const LABEL_OF_STATUS: Record<Exclude<MentionStatus, 'historical'>, Exclude<ReportLabel, 'none'>> = {
  affirmed: 'positive',
  negated: 'negative',
  uncertain: 'uncertain',
};

/**
 * Labels a report for one target. Mentions in history, indication and technique sections and historical
 * mentions are ignored. When the impression (or DiagnosticReport.conclusion) mentions the target, only
 * the impression counts. Within the counted mentions, an affirmed mention makes the report positive,
 * otherwise an uncertain one makes it uncertain, otherwise a negated one makes it negative.
 * @param parts - The report's text parts.
 * @param targetTerms - Synonyms of the target finding.
 * @returns The label, the deciding mention and all mentions.
 */
export function extractReportLabel(
  parts: readonly ReportTextPart[],
  targetTerms: readonly string[]
): ExtractionResult {
  const mentions = parts.flatMap((part) => findMentions(part, targetTerms));
  const usable = mentions.filter(
    (m) => m.status !== 'historical' && (m.section === 'findings' || m.section === 'impression')
  );
  const impression = usable.filter((m) => m.section === 'impression');
  const counted = impression.length > 0 ? impression : usable;

  for (const label of ['positive', 'uncertain', 'negative'] as const) {
    const decisive = counted.find((m) => m.status !== 'historical' && LABEL_OF_STATUS[m.status] === label);
    if (decisive !== undefined) {
      return { label, decisive, mentions, extractorVersion: EXTRACTOR_VERSION };
    }
  }
  return { label: 'none', mentions, extractorVersion: EXTRACTOR_VERSION };
}
