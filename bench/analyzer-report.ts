/** Statistics and the Markdown page of the analyzer throughput benchmark (bench/analyzer-throughput.ts). */
import { ANALYZE_QUEUE } from '@monitormed/common';
import type { StepName, StepTotal, WorkerTimings } from './analyzer-worker.js';

/** Measurements of one worker count. */
export interface RunReport {
  workers: number;
  /** ANALYZE_CONCURRENCY of each worker. */
  concurrency: number;
  /** Results in the burst. */
  results: number;
  /** Whether the burst's queue emptied before the time limit. */
  drained: boolean;
  /** When the burst's jobs were queued, in milliseconds since the epoch. */
  burstStartMs: number;
  /** Enqueue time of every job, by job id. */
  enqueuedAtMs: Map<string, number>;
  burstIds: Set<string>;
  timings: WorkerTimings[];
  surrogateVersion: number;
  loadSeconds: number;
}

/** Facts about the run for the page header. */
export interface ReportContext {
  date: string;
  machine: string;
  command: string;
  loadBefore: number[];
  loadAfter: number[];
  peers: string;
  /** Active Subscriptions on the FHIR server that deliver every AI result, before or after the runs. */
  globalSubscriptions: number;
  /** Results of the unrecorded warm-up run before the recorded ones. */
  warmupResults: number;
}

const STEPS: readonly [StepName, string][] = [
  ['fhirRead', 'FHIR reads (Observation, Device, input searches)'],
  ['mcDropout', 'MC dropout (ONNX Runtime, T = 30)'],
  ['mongoRead', 'MongoDB reads'],
  ['mongoWrite', 'MongoDB writes'],
  ['fhirWrite', 'FHIR write-back (extension update, Flag)'],
];

/** Returns the q-quantile (0..1) of the values by the nearest-rank method, or NaN for no values. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

function format(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** Adds the step totals of one queue over every worker. */
function mergeSteps(timings: readonly WorkerTimings[], queue: string): Map<StepName, StepTotal> {
  const merged = new Map<StepName, StepTotal>();
  for (const worker of timings) {
    for (const [step, total] of Object.entries(worker.steps[queue] ?? {}) as [StepName, StepTotal][]) {
      const current = merged.get(step) ?? { count: 0, totalMs: 0 };
      merged.set(step, { count: current.count + total.count, totalMs: current.totalMs + total.totalMs });
    }
  }
  return merged;
}

/** Throughput and latency of one run, from the workers' completion times. */
interface RunStatistics {
  burstDone: number;
  perSecond: number;
  burstLatencies: number[];
  sequentialLatencies: number[];
  jobMs: number[];
  outcomes: Map<string, number>;
  steps: Map<StepName, StepTotal>;
  calls: Map<string, StepTotal>;
}

function statisticsOf(run: RunReport): RunStatistics {
  const doneAt = new Map<string, number>();
  for (const worker of run.timings) {
    for (const [jobId, atMs] of Object.entries(worker.analysisDoneAtMs)) {
      doneAt.set(jobId, atMs);
    }
  }

  const burstLatencies: number[] = [];
  const sequentialLatencies: number[] = [];
  let lastBurstDoneMs = run.burstStartMs;
  for (const [jobId, enqueuedMs] of run.enqueuedAtMs) {
    const done = doneAt.get(jobId);
    if (done === undefined) {
      continue;
    }
    if (run.burstIds.has(jobId)) {
      burstLatencies.push(done - enqueuedMs);
      lastBurstDoneMs = Math.max(lastBurstDoneMs, done);
    } else {
      sequentialLatencies.push(done - enqueuedMs);
    }
  }

  const outcomes = new Map<string, number>();
  for (const worker of run.timings) {
    for (const [outcome, count] of Object.entries(worker.outcomes[ANALYZE_QUEUE] ?? {})) {
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + count);
    }
  }
  return {
    burstDone: burstLatencies.length,
    perSecond: burstLatencies.length / ((lastBurstDoneMs - run.burstStartMs) / 1000),
    burstLatencies,
    sequentialLatencies,
    jobMs: run.timings.flatMap((worker) => worker.jobMs[ANALYZE_QUEUE] ?? []),
    outcomes,
    steps: mergeSteps(run.timings, ANALYZE_QUEUE),
    calls: mergeCalls(run.timings, ANALYZE_QUEUE),
  };
}

/** Adds the call totals of one queue over every worker, by label such as `search Observation`. */
function mergeCalls(timings: readonly WorkerTimings[], queue: string): Map<string, StepTotal> {
  const merged = new Map<string, StepTotal>();
  for (const worker of timings) {
    for (const [call, total] of Object.entries(worker.calls[queue] ?? {})) {
      const current = merged.get(call) ?? { count: 0, totalMs: 0 };
      merged.set(call, { count: current.count + total.count, totalMs: current.totalMs + total.totalMs });
    }
  }
  return merged;
}

function callTable(statistics: RunStatistics): string {
  const jobs = statistics.jobMs.length;
  const rows = [...statistics.calls]
    .sort(([, a], [, b]) => b.totalMs - a.totalMs)
    .map(
      ([call, total]) =>
        `| \`${call}\` | ${format(total.count / jobs, 2)} | ${format(total.totalMs / total.count, 1)} | ${format(total.totalMs / jobs, 1)} |`
    );
  return [
    '| Call (FHIR resource type or MongoDB collection) | Calls per result | ms per call | ms per result |',
    '| --- | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}

function splitTable(statistics: RunStatistics): { table: string; dominant: string } {
  const jobs = statistics.jobMs.length;
  const jobTotalMs = sum(statistics.jobMs);
  const rows: string[] = [];
  let timedMs = 0;
  let dominant = { label: 'none', share: 0, perResultMs: 0 };
  for (const [step, label] of STEPS) {
    const total = statistics.steps.get(step) ?? { count: 0, totalMs: 0 };
    timedMs += total.totalMs;
    const share = total.totalMs / jobTotalMs;
    if (share > dominant.share) {
      dominant = { label, share, perResultMs: total.totalMs / jobs };
    }
    rows.push(
      `| ${label} | ${format(total.count / jobs, 2)} | ${format(total.totalMs / Math.max(1, total.count), 1)} | ${format(total.totalMs / jobs, 1)} | ${format(100 * share)} % |`
    );
  }
  const otherMs = jobTotalMs - timedMs;
  rows.push(
    `| Other (worker CPU: entropy, JSON, bull; waiting for the event loop) | | | ${format(otherMs / jobs, 1)} | ${format((100 * otherMs) / jobTotalMs)} % |`
  );
  return {
    table: [
      '| Step | Calls per result | ms per call | ms per result | Share of job time |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...rows,
    ].join('\n'),
    dominant: `${dominant.label}: ${format(100 * dominant.share)} % of the analysis jobs' time, ${format(dominant.perResultMs, 1)} ms per result`,
  };
}

/** Job counts and time of the other queues, which share the workers and the peers with the analyses. */
function otherQueues(run: RunReport): string {
  const names = new Set(run.timings.flatMap((worker) => Object.keys(worker.jobMs)));
  names.delete(ANALYZE_QUEUE);
  const parts = [...names].sort().map((name) => {
    const durations = run.timings.flatMap((worker) => worker.jobMs[name] ?? []);
    return `${name} ${String(durations.length)} jobs, ${format(sum(durations) / 1000)} s`;
  });
  return parts.length === 0 ? 'none' : parts.join('; ');
}

/**
 * Renders the results page.
 * @param runs - One report per worker count.
 * @param context - Date, machine, command and load.
 * @returns Markdown.
 */
export function renderReport(runs: readonly RunReport[], context: ReportContext): string {
  const summaryRows: string[] = [];
  const sections: string[] = [];
  const warnings: string[] = [];
  if (context.globalSubscriptions > 0) {
    warnings.push(
      `The FHIR server had ${String(context.globalSubscriptions)} active Subscription(s) that deliver every AI result to another analyzer.`
    );
  }
  for (const run of runs) {
    const statistics = statisticsOf(run);
    const early = statistics.outcomes.get('already-analyzed') ?? 0;
    if (early > 0) {
      warnings.push(
        `With ${String(run.workers)} worker(s), ${String(early)} results already carried an uncertainty extension when the bench worker read them, because another analyzer wrote it first. Those jobs ended after one read, so the run's numbers are not valid. Rerun with a private HAPI (FHIR_BASE_URL).`
      );
    }
    const outcomes = [...statistics.outcomes]
      .map(([outcome, count]) => `${outcome} ${String(count)}`)
      .join(', ');
    summaryRows.push(
      [
        '',
        run.workers,
        `${String(statistics.burstDone)} of ${String(run.results)}${run.drained ? '' : ' (timed out)'}`,
        format(statistics.perSecond, 2),
        format(quantile(statistics.burstLatencies, 0.5) / 1000, 2),
        format(quantile(statistics.burstLatencies, 0.99) / 1000, 2),
        format(quantile(statistics.sequentialLatencies, 0.5), 0),
        format(quantile(statistics.sequentialLatencies, 0.99), 0),
        format(quantile(statistics.jobMs, 0.5), 0),
        format(quantile(statistics.jobMs, 0.99), 0),
        outcomes,
        '',
      ]
        .join(' | ')
        .trim()
    );
    const split = splitTable(statistics);
    sections.push(`### ${String(run.workers)} worker process(es)

Largest step: ${split.dominant}. Loading the ${String(run.results + statistics.sequentialLatencies.length)} results into HAPI took ${format(run.loadSeconds)} s (not counted).
Other jobs in the same workers during the run: ${otherQueues(run)}.

${split.table}

${callTable(statistics)}`);
  }

  const warningText =
    warnings.length === 0
      ? ''
      : `\n**Not valid:**\n\n${warnings.map((warning) => `- ${warning}`).join('\n')}\n`;
  return `# Analyzer worker throughput

- Date: ${context.date}
- Command: \`${context.command}\`
- Machine: ${context.machine}
- Load average (1, 5, 15 min) before: ${context.loadBefore.map((value) => value.toFixed(2)).join(', ')}; after: ${context.loadAfter.map((value) => value.toFixed(2)).join(', ')}
- Peers: ${context.peers}. FerretDB and Redis are shared with other work on the machine, and so is HAPI
  unless FHIR_BASE_URL names a private server.
${warningText}
Each worker process runs \`startAnalyzers()\` with ANALYZE_CONCURRENCY=${String(runs[0]?.concurrency ?? 0)} and LOG_LEVEL=warn. Every result
has a patient with vital signs and labs in the lookback and the model has an active surrogate, so every analysis
reads the Observation and its Device, searches the patient's inputs, runs MC dropout (T = 30), upserts the
\`ai_results\` document, schedules the window's drift evaluation and writes the uncertainty extension with
If-Match. A result's time ends when its job's processor returns, after that write-back. The drift, rollup and
alert jobs that the analyses trigger run in the same workers during the run. Before the recorded runs, an
unrecorded run of ${String(context.warmupResults)} results with one worker warms up HAPI.

- Burst: all results queued at once; results/s is the results over the time from the enqueue to the last
  completion, and the burst latency includes the wait in the queue.
- One at a time: each result queued after the previous one finished, so its latency has no queue wait.
- Job time: the processor's own time per analysis (burst and one at a time).

| Workers | Burst results done | Results/s | Burst p50 (s) | Burst p99 (s) | One at a time p50 (ms) | One at a time p99 (ms) | Job time p50 (ms) | Job time p99 (ms) | Outcomes |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
${summaryRows.join('\n')}

## Time split of an analysis

Each worker wraps the FHIR client, the MongoDB collection methods and the MC dropout scorer with timers, and
counts each call under the queue whose job made it. The shares add up the time that analysis jobs spent
waiting for each kind of call, over the sum of their job times. With several jobs in flight, a call also
contains the time its request waited for the event loop and the peer.

${sections.join('\n\n')}
`;
}
