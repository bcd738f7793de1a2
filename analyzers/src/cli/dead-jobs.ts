/**
 * Lists, re-queues and deletes jobs that failed for good (the dead-letter collection of jobs/dead-letter.ts).
 *
 * Usage: npx tsx analyzers/src/cli/dead-jobs.ts list [--limit 100]
 *        npx tsx analyzers/src/cli/dead-jobs.ts retry <id>
 *        npx tsx analyzers/src/cli/dead-jobs.ts delete <id>
 * `<id>` is the `id` that `list` prints (`{queue}:{jobId}`). Mongo and Redis come from MONGO_URL,
 * MONGO_DATABASE and REDIS_URL; QUEUE_PREFIX sets the bull prefix (default `bull`).
 * Exit status: 0 on success, 2 on invalid input, 1 when Mongo or Redis fails.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { connectMongo, loadConfig, type MonitorMedConfig } from '@monitormed/common';
import Bull from 'bull';
import { DeadLetterStore, type DeadJobDocument } from '../jobs/dead-letter.js';
import { defaultJobOptions, isQueueName } from '../jobs/definitions.js';
import { UsageError } from './usage-error.js';

const USAGE = 'Usage: dead-jobs.ts list [--limit N] | retry <id> | delete <id>';

/** One line of `list` output. */
export interface DeadJobSummary {
  id: string;
  queue: string;
  jobId: string;
  attemptsMade: number;
  error: string;
  failedAt: string;
  retries: number;
  retriedAt: string | null;
  data: unknown;
}

function summarize(document: DeadJobDocument): DeadJobSummary {
  return {
    id: document._id,
    queue: document.queue,
    jobId: document.jobId,
    attemptsMade: document.attemptsMade,
    error: document.error,
    failedAt: document.failedAt.toISOString(),
    retries: document.retries,
    retriedAt: document.retriedAt === null ? null : document.retriedAt.toISOString(),
    data: document.data,
  };
}

/**
 * Queues a dead job again under its original id with its original number of attempts, replacing the copy
 * in bull's failed set when there is one.
 * @returns What was done, for the output.
 * @throws UsageError when the id is unknown or the job is already queued again.
 */
async function retryDeadJob(
  store: DeadLetterStore,
  config: MonitorMedConfig,
  prefix: string,
  key: string
): Promise<string> {
  const document = await store.find(key);
  if (document === undefined) {
    throw new UsageError(`No dead job with id '${key}'; run 'dead-jobs.ts list' to see the ids.`);
  }
  if (!isQueueName(document.queue)) {
    throw new UsageError(`Dead job '${key}' names the unknown queue '${String(document.queue)}'; delete it.`);
  }

  const queue = new Bull(document.queue, config.redisUrl, { prefix });
  try {
    const existing = await queue.getJob(document.jobId);
    if (existing !== null && !(await existing.isFailed())) {
      throw new UsageError(
        `Job '${document.jobId}' is already in queue ${document.queue} as ${await existing.getState()}; wait for it.`
      );
    }

    // Bull's Job.retry() keeps attemptsMade, so a retried job would get a single attempt. Removing the
    // failed copy and adding the job again under its id gives it every attempt with backoff.
    await existing?.remove();
    await queue.add(document.data, {
      ...defaultJobOptions(document.queue),
      attempts: document.attempts,
      jobId: document.jobId,
    });
    await store.markRetried(key);
    return existing === null ? 'added again' : 'replaced the failed job and added it again';
  } finally {
    await queue.close();
  }
}

/**
 * Runs one command.
 * @param args - Arguments after the script name.
 * @param config - Mongo and Redis addresses.
 * @param prefix - Bull key prefix.
 * @returns Text for stdout.
 * @throws UsageError on invalid input.
 */
export async function runDeadJobs(
  args: readonly string[],
  config: MonitorMedConfig,
  prefix: string
): Promise<string> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: { limit: { type: 'string' } }, allowPositionals: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}. ${USAGE}`);
  }
  const [command, key, ...extra] = parsed.positionals;
  if (command === undefined || extra.length > 0) {
    throw new UsageError(`Missing or extra arguments. ${USAGE}`);
  }

  const mongo = await connectMongo(config, 5_000).catch((err: unknown) => {
    throw new Error(`Cannot connect to MongoDB at ${config.mongoUrl}; start it or set MONGO_URL.`, {
      cause: err,
    });
  });
  try {
    const store = new DeadLetterStore(mongo.db);
    switch (command) {
      case 'list': {
        const limit = Number(parsed.values.limit ?? '100');
        if (!Number.isInteger(limit) || limit < 1) {
          throw new UsageError(
            `Invalid --limit '${String(parsed.values.limit)}': expected a whole number, at least 1.`
          );
        }
        const documents = await store.list(limit);
        return `${JSON.stringify(documents.map(summarize), null, 2)}\n`;
      }
      case 'retry':
      case 'delete': {
        if (key === undefined) {
          throw new UsageError(`Missing the dead job id after '${command}'. ${USAGE}`);
        }
        if (command === 'retry') {
          const action = await retryDeadJob(store, config, prefix, key);
          return `${key}: ${action}\n`;
        }
        const deleted = await store.remove(key);
        if (deleted === 0) {
          throw new UsageError(`No dead job with id '${key}'; run 'dead-jobs.ts list' to see the ids.`);
        }
        return `${key}: deleted\n`;
      }
      default:
        throw new UsageError(`Unknown command '${command}'. ${USAGE}`);
    }
  } finally {
    await mongo.client.close();
  }
}

async function main(): Promise<void> {
  try {
    const output = await runDeadJobs(
      process.argv.slice(2),
      loadConfig(),
      process.env['QUEUE_PREFIX'] ?? 'bull'
    );
    process.stdout.write(output);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`dead-jobs: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`dead-jobs: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
