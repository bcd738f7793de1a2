/**
 * The Provenance activity of one write (http://terminology.hl7.org/CodeSystem/v3-DataOperation). A
 * conditional write's activity depends on what its condition matches when it runs
 * (https://hl7.org/fhir/R4/http.html#ccreate and #cond-update), so the condition is searched first.
 */
import type { Interaction } from './interaction.js';
import type { WriteActivity } from './records.js';
import { sendUpstreamJson, type UpstreamTarget } from './upstream.js';

/**
 * Finds the activity that a write will perform.
 * @param condition - The `If-None-Exist` query of a create, or the query of a conditional update.
 * @returns The activity, or undefined when the write will store nothing: a conditional create whose
 *   condition matches, or a conditional update whose condition matches more than one resource (HAPI
 *   returns 200 and 412 for those).
 * @throws UpstreamError when the FHIR server cannot be searched.
 */
export async function resolveWriteActivity(
  target: UpstreamTarget,
  interaction: Interaction,
  condition: string | undefined
): Promise<WriteActivity | undefined> {
  if (interaction.kind === 'delete') {
    return 'DELETE';
  }
  if (interaction.kind === 'patch') {
    return 'UPDATE';
  }
  const conditional = interaction.kind === 'create' ? condition !== undefined : interaction.conditional;
  if (!conditional) {
    return interaction.kind === 'create' ? 'CREATE' : 'UPDATE';
  }

  // NOTE: a matching resource stored by another client between this search and the write makes the
  // returned activity wrong for that one write.
  const matches = await countMatches(target, interaction.resourceType ?? '', condition ?? '');
  if (matches === 0) {
    return 'CREATE';
  }
  return interaction.kind === 'update' && matches === 1 ? 'UPDATE' : undefined;
}

async function countMatches(target: UpstreamTarget, type: string, condition: string): Promise<number> {
  const query = new URLSearchParams(condition);
  query.set('_summary', 'count');
  // HAPI reuses an identical search's results for a minute without no-cache, and a write needs the current matches.
  const { response, resource } = await sendUpstreamJson(target, {
    method: 'GET',
    pathAndQuery: `${type}?${query.toString()}`,
    headers: { 'cache-control': 'no-cache' },
  });
  const total = resource?.resourceType === 'Bundle' ? resource.total : undefined;
  if (!response.ok || total === undefined) {
    // An invalid condition: HAPI rejects the write itself with its own OperationOutcome.
    return 0;
  }
  return total;
}
