/**
 * Links confirming resources and AI results in both directions. A confirming resource is matched with
 * the patient's AI results in its rule's window. An AI result is matched with the confirming resources
 * already stored, so a report that arrived before the AI result is linked too.
 */
import type { Bundle, Encounter, Observation, Resource } from '@medplum/fhirtypes';
import {
  AIAST_SEARCH,
  type AiModelDefinition,
  type FhirClient,
  type GroundTruthJob,
  type LabelDocument,
  type Logger,
} from '@monitormed/common';
import {
  evidenceMatches,
  readAiResult,
  readEvidence,
  type AiResultFacts,
  type ConfirmingResource,
  type EvidenceOutcome,
} from './evidence.js';
import { labelObservationId, labelProvenanceId, writeLabelResources } from './fhir-label.js';
import type { EvidenceChange, LabelStore } from './label-store.js';
import { tokenSearch, type GroundTruthRule } from './rules.js';

/** Dependencies of the linker. */
export interface LinkerDependencies {
  client: FhirClient;
  store: LabelStore;
  rules: readonly GroundTruthRule[];
  models: readonly AiModelDefinition[];
  log: Logger;
}

/** Counts of one processed job, for the log and the tests. */
export interface LinkSummary {
  /** AI results whose label document changed. */
  changed: number;
  /** AI results looked at. */
  examined: number;
}

const HOUR_MS = 3_600_000;

/** Matches per search; more AI results of one patient in one window are not expected. */
const SEARCH_COUNT = 100;

async function search<T extends Resource>(
  client: FhirClient,
  resourceType: string,
  params: Record<string, string | string[]>
): Promise<T[]> {
  const bundle = (await client.search({
    resourceType,
    searchParams: { ...params, _count: String(SEARCH_COUNT) },
    // HAPI reuses the result of an identical search for a minute by default; links need current data.
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle<T>;
  // NOTE: only the first page is read, so matches beyond SEARCH_COUNT in one window are not linked.
  return (bundle.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
}

function isoRange(from: Date, to: Date): string[] {
  return [`ge${from.toISOString()}`, `le${to.toISOString()}`];
}

function factsOf(document: LabelDocument, model: AiModelDefinition): AiResultFacts {
  return {
    id: document._id,
    versionId: document.aiVersionId,
    model,
    patient: document.patient,
    effective: document.aiEffective,
    score: document.score,
    studyKeys: [],
  };
}

/** Writes or removes the FHIR label after a change; unknown labels have no FHIR resources. */
async function publish(deps: LinkerDependencies, document: LabelDocument): Promise<void> {
  if (document.label !== 'unknown') {
    await writeLabelResources(deps.client, document);
    return;
  }

  // The evidence was retracted, so the label Observation and its Provenance are no longer true. HAPI
  // returns 200 or 404 for a delete of a missing resource, and both leave nothing behind.
  for (const [resourceType, id] of [
    ['Provenance', labelProvenanceId(document._id)],
    ['Observation', labelObservationId(document._id)],
  ] as const) {
    try {
      await deps.client.delete({ resourceType, id });
    } catch (err) {
      if ((err as { response?: { status?: number } }).response?.status !== 404) {
        throw err;
      }
    }
  }
}

/**
 * Applies an evidence change, then writes the label to FHIR unless that revision is already there. The
 * FHIR step runs on every call, so a retry after a failed FHIR write completes it.
 */
async function applyAndPublish(
  deps: LinkerDependencies,
  facts: AiResultFacts,
  rule: GroundTruthRule,
  change: EvidenceChange | undefined
): Promise<boolean> {
  const { document, changed } = await deps.store.apply(facts, rule.horizonHours, change);
  if (changed) {
    deps.log.info(
      {
        observationId: facts.id,
        modelId: facts.model.modelId,
        label: document.label,
        revision: document.revision,
      },
      'Ground-truth label updated'
    );
  }

  // An unknown label that was never written has nothing to delete.
  const unpublished = document.publishedRevision !== document.revision;
  if (unpublished && (document.label !== 'unknown' || document.publishedRevision !== undefined)) {
    await publish(deps, document);
    await deps.store.markPublished(document._id, document.revision);
  }
  return changed;
}

/** Searches the confirming resources of an AI result that its rule can use. */
async function searchEvidence(
  deps: LinkerDependencies,
  facts: AiResultFacts,
  rule: GroundTruthRule
): Promise<ConfirmingResource[]> {
  const found: ConfirmingResource[] = [];
  const at = facts.effective.getTime();
  const range = (w: { before: number; after: number }): string[] =>
    isoRange(new Date(at - w.before * HOUR_MS), new Date(at + w.after * HOUR_MS));

  if (rule.reports !== undefined) {
    const reports = rule.reports;
    found.push(
      ...(await search<ConfirmingResource>(deps.client, 'DiagnosticReport', {
        subject: facts.patient,
        code: tokenSearch(reports.diagnosticReportCodes),
        date: range(reports.windowHours),
      }))
    );
    if ((reports.textObservationCodes ?? []).length > 0) {
      found.push(
        ...(await search<ConfirmingResource>(deps.client, 'Observation', {
          subject: facts.patient,
          code: tokenSearch(reports.textObservationCodes ?? []),
          date: range(reports.windowHours),
        }))
      );
    }
  }
  for (const lab of rule.labs ?? []) {
    found.push(
      ...(await search<ConfirmingResource>(deps.client, 'Observation', {
        subject: facts.patient,
        code: tokenSearch([lab.code]),
        date: range(lab.windowHours),
      }))
    );
  }
  if (rule.diagnoses !== undefined) {
    // Condition onset is filtered in evidenceMatches, because onset may be a period or a recorded date.
    found.push(
      ...(await search<ConfirmingResource>(deps.client, 'Condition', {
        subject: facts.patient,
        code: tokenSearch(rule.diagnoses.codes),
      }))
    );
  }
  return found;
}

async function linkAiResult(deps: LinkerDependencies, observation: Observation): Promise<LinkSummary> {
  const facts = readAiResult(observation, deps.models);
  const rule = facts === undefined ? undefined : deps.rules.find((r) => r.modelId === facts.model.modelId);
  if (facts === undefined || rule === undefined) {
    deps.log.info(
      { observationId: observation.id },
      'AI result of a model without ground-truth rules; nothing linked'
    );
    return { changed: 0, examined: 0 };
  }

  let changed = (await applyAndPublish(deps, facts, rule, undefined)) ? 1 : 0;
  for (const resource of await searchEvidence(deps, facts, rule)) {
    const outcome = readEvidence(resource, rule);
    if (
      outcome?.kind === 'evidence' &&
      evidenceMatches(facts, outcome, rule.reports?.requireSameStudy === true)
    ) {
      if (await applyAndPublish(deps, facts, rule, { kind: 'evidence', evidence: outcome.evidence })) {
        changed = 1;
      }
    }
  }
  return { changed, examined: 1 };
}

async function linkEvidenceForRule(
  deps: LinkerDependencies,
  outcome: EvidenceOutcome,
  rule: GroundTruthRule,
  model: AiModelDefinition
): Promise<LinkSummary> {
  const source = outcome.kind === 'evidence' ? outcome.evidence.source : outcome.source;
  const candidates = new Map<string, AiResultFacts>();

  // AI results already linked to this source: they keep the link only while the new version still matches.
  for (const document of await deps.store.findBySource(source)) {
    if (document.modelId === model.modelId) {
      candidates.set(document._id, factsOf(document, model));
    }
  }

  if (outcome.kind === 'evidence') {
    const at = outcome.evidence.evidenceTime.getTime();
    const results = await search<Observation>(deps.client, 'Observation', {
      subject: outcome.patient,
      code: tokenSearch([model.outputCode]),
      _security: AIAST_SEARCH,
      date: isoRange(
        new Date(at - outcome.window.after * HOUR_MS),
        new Date(at + outcome.window.before * HOUR_MS)
      ),
    });
    for (const observation of results) {
      const facts = readAiResult(observation, [model]);
      if (facts !== undefined) {
        candidates.set(facts.id, facts);
      }
    }
  }

  let changed = 0;
  for (const facts of candidates.values()) {
    const matches =
      outcome.kind === 'evidence' && evidenceMatches(facts, outcome, rule.reports?.requireSameStudy === true);
    const versionId = outcome.kind === 'evidence' ? outcome.evidence.versionId : outcome.versionId;
    const change: EvidenceChange = matches
      ? { kind: 'evidence', evidence: outcome.evidence }
      : { kind: 'retract', source, versionId };
    if (await applyAndPublish(deps, facts, rule, change)) {
      changed++;
    }
  }
  return { changed, examined: candidates.size };
}

/**
 * Processes one ground-truth job: reads the delivered version and links it.
 * @param deps - FHIR client, label store, rules, models and logger.
 * @param job - The delivered resource version.
 * @returns How many AI results were examined and changed.
 */
export async function processGroundTruthJob(
  deps: LinkerDependencies,
  job: GroundTruthJob
): Promise<LinkSummary> {
  const resource = (await deps.client.vread({
    resourceType: job.resourceType,
    id: job.id,
    version: job.versionId,
  })) as unknown as ConfirmingResource;

  if (job.kind === 'ai-result') {
    return linkAiResult(deps, resource as Observation);
  }

  const summary: LinkSummary = { changed: 0, examined: 0 };
  for (const rule of deps.rules) {
    const model = deps.models.find((m) => m.modelId === rule.modelId);
    const outcome = model === undefined ? undefined : readEvidence(resource, rule);
    if (model !== undefined && outcome !== undefined) {
      const result = await linkEvidenceForRule(deps, outcome, rule, model);
      summary.changed += result.changed;
      summary.examined += result.examined;
    }
  }
  return summary;
}

/**
 * Applies the horizon rules: an AI result still unknown after its model's horizon gets a negative label
 * when the rule's policy is `always`, or `after-discharge` and a finished Encounter of the patient ended after
 * the AI result. Later evidence still overrides it, because positive evidence wins.
 * @param deps - FHIR client, label store, rules, models and logger.
 * @param now - The current time.
 * @param limit - Maximum number of AI results handled in one sweep.
 * @returns How many labels changed.
 */
export async function sweepHorizon(deps: LinkerDependencies, now: Date, limit = 200): Promise<number> {
  const modelIds = deps.rules.filter((r) => r.negativeAtHorizon !== 'never').map((r) => r.modelId);
  let changed = 0;
  for (const document of await deps.store.findPastHorizon(modelIds, now, limit)) {
    const rule = deps.rules.find((r) => r.modelId === document.modelId);
    const model = deps.models.find((m) => m.modelId === document.modelId);
    if (rule === undefined || model === undefined || rule.negativeAtHorizon === 'never') {
      continue;
    }

    let source = `Observation/${document._id}`;
    let versionId = document.aiVersionId;
    if (rule.negativeAtHorizon === 'after-discharge') {
      const encounters = await search<Encounter>(deps.client, 'Encounter', {
        subject: document.patient,
        status: 'finished',
        date: `ge${document.aiEffective.toISOString()}`,
      });
      const discharge = encounters.find(
        (e) => e.period?.end !== undefined && Date.parse(e.period.end) <= now.getTime()
      );
      if (discharge?.id === undefined) {
        continue;
      }
      source = `Encounter/${discharge.id}`;
      versionId = discharge.meta?.versionId ?? '1';
    }

    const change: EvidenceChange = {
      kind: 'evidence',
      evidence: {
        source,
        versionId,
        label: 'negative',
        method: 'horizon',
        rule: rule.negativeAtHorizon === 'always' ? 'no-evidence-by-horizon' : 'discharged-without-evidence',
        evidenceTime: document.horizonAt,
      },
    };
    if (await applyAndPublish(deps, factsOf(document, model), rule, change)) {
      changed++;
    }
  }
  return changed;
}
