/**
 * Child-process worker of the job tests: processes ROLLUP_QUEUE jobs with {@link JobQueues} and, instead of a
 * rollup, records each run in Mongo with $inc, so a test can count how often every job ran and on which worker.
 *
 * Environment: REDIS_URL, MONGO_URL, MONGO_DATABASE as usual; QUEUE_PREFIX; WORKER_NAME; JOB_SLEEP_MS (time
 * each job takes); the JOB_* and SHUTDOWN_GRACE_MS variables of job-settings.ts. Prints `ready` once it
 * processes, and stops cleanly on SIGTERM.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectMongo, createLogger, loadConfig } from '@monitormed/common';
import { DeadLetterStore } from '../dead-letter.js';
import { ROLLUP_QUEUE } from '../definitions.js';
import { JobQueues } from '../job-queues.js';
import { loadJobSettings } from '../job-settings.js';
import { JOB_RUNS_COLLECTION, type JobRunDocument } from './job-runs.js';

const config = loadConfig();
const log = createLogger('recording-worker', config.logLevel);
const workerName = process.env['WORKER_NAME'] ?? String(process.pid);
const sleepMs = Number(process.env['JOB_SLEEP_MS'] ?? '0');
const prefix = process.env['QUEUE_PREFIX'] ?? 'bull';

const mongo = await connectMongo(config, 5_000);
const runs = mongo.db.collection<JobRunDocument>(JOB_RUNS_COLLECTION);
const queues = new JobQueues({
  redisUrl: config.redisUrl,
  prefix,
  settings: loadJobSettings(),
  deadLetters: new DeadLetterStore(mongo.db),
  log,
});

queues.process(ROLLUP_QUEUE, async (job) => {
  const jobId = String(job.id);
  await runs.updateOne(
    { _id: jobId },
    { $inc: { started: 1, [`startedBy.${workerName}`]: 1 } },
    { upsert: true }
  );
  if (job.data.window === 'fail') {
    throw new Error(`Synthetic failure of job ${jobId}`);
  }

  await sleep(sleepMs);
  await runs.updateOne({ _id: jobId }, { $inc: { completed: 1 }, $set: { completedBy: workerName } });
  return { worker: workerName };
});
await queues.waitReady(5_000);

process.once('SIGTERM', () => {
  log.info({ workerName }, 'SIGTERM received; finishing active jobs');
  queues
    .close()
    .then(() => mongo.client.close())
    .then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'Recording worker did not stop cleanly');
        process.exit(1);
      }
    );
});
process.stdout.write('ready\n');
