/**
 * Trigger terms of the report-text extractor, in the style of NegEx and its successor ConText (Harkema et
 * al., J Biomed Inform 2009, https://pmc.ncbi.nlm.nih.gov/articles/PMC2757457/). A trigger changes the
 * status of the target terms in its scope. The scope runs forward (pre-triggers) or backward
 * (post-triggers) to a termination term or the sentence boundary. The lists are our own and cover
 * radiology and sepsis wording in English.
 */

/** Effect of a trigger on the target terms in its scope. */
export type TriggerKind =
  | 'pre-negation'
  | 'post-negation'
  | 'pseudo-negation'
  | 'pre-uncertainty'
  | 'post-uncertainty'
  | 'pre-historical'
  | 'pseudo-historical'
  | 'termination';

/** Trigger phrases by kind, matched case-insensitively on word boundaries. */
export const TRIGGERS: Readonly<Record<TriggerKind, readonly string[]>> = {
  'pre-negation': [
    'no',
    'not',
    'without',
    'negative for',
    'free of',
    'no evidence of',
    'no sign of',
    'no signs of',
    'no residual',
    'no recurrent',
    'no longer',
    'absence of',
    'absent',
    'denies',
    'ruled out',
    'resolved',
    'resolution of',
    'interval resolution of',
    'never',
  ],
  'post-negation': [
    'is absent',
    'are absent',
    'has resolved',
    'have resolved',
    'resolved',
    'was ruled out',
    'has been ruled out',
    'is ruled out',
    'is excluded',
    'was excluded',
    'not seen',
    'is not seen',
    'not identified',
    'not present',
    'no longer seen',
    'no longer present',
    'unlikely',
  ],
  // These contain a negation word but negate nothing; the span they cover fires no other trigger.
  'pseudo-negation': [
    'no increase',
    'no increase in',
    'no change',
    'no change in',
    'no interval change',
    'no interval change in',
    'no significant change',
    'no significant change in',
    'not only',
    'not necessarily',
    'no further',
    'gram negative',
    'without difficulty',
  ],
  'pre-uncertainty': [
    'possible',
    'possibly',
    'probable',
    'probably',
    'may represent',
    'may be',
    'might be',
    'could be',
    'cannot exclude',
    'can not exclude',
    'cannot rule out',
    'can not rule out',
    'questionable',
    'suspicious for',
    'suspected',
    'suggestive of',
    'concerning for',
    'equivocal',
    'rule out',
    'differential includes',
    'versus',
  ],
  'post-uncertainty': [
    'cannot be excluded',
    'can not be excluded',
    'cannot be ruled out',
    'not excluded',
    'is not excluded',
    'not been excluded',
    'not entirely excluded',
    'is possible',
    'is suspected',
    'is questioned',
    'not ruled out',
  ],
  // "known" is left out: a known pneumothorax on a follow-up film is still a current finding.
  'pre-historical': ['history of', 'prior', 'previous', 'previously', 'status post', 'remote'],
  // "compared with prior" names an earlier study, not an earlier disease.
  'pseudo-historical': [
    'compared with prior',
    'compared to prior',
    'compared with the prior',
    'compared to the prior',
    'prior study',
    'prior exam',
    'prior examination',
    'prior radiograph',
    'prior film',
  ],
  termination: [
    'but',
    'however',
    'although',
    'though',
    'yet',
    'except',
    'aside from',
    'apart from',
    'which',
    'whereas',
  ],
};

/** Section headers; the section runs from its header to the next one. */
export const SECTION_HEADERS: Readonly<Record<string, ReportSection>> = {
  findings: 'findings',
  finding: 'findings',
  impression: 'impression',
  impressions: 'impression',
  conclusion: 'impression',
  conclusions: 'impression',
  summary: 'impression',
  history: 'history',
  'clinical history': 'history',
  indication: 'history',
  indications: 'history',
  comparison: 'history',
  technique: 'technique',
};

/**
 * Part of a report. Mentions in `history` (history, indication, comparison) and `technique` state why the
 * study was done, not what it showed, so they are ignored. `impression` wins over `findings`.
 */
export type ReportSection = 'findings' | 'impression' | 'history' | 'technique';
