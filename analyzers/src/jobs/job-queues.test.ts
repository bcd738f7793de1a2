/**
 * Job queues on the real Redis and Mongo, with worker child processes. Two workers share 200 jobs and run
 * each once. A SIGKILLed worker's job is finished by another, and SIGTERM lets the active job finish. A job
 * that fails for good reaches the dead-letter collection and can be queued again with the dead-jobs command.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { connectMongo, waitFor, type MongoHandle } from '@monitormed/common';
import Bull from 'bull';
import { createTestRun, dropTestDatabase } from '../testing/stack.js';
import { DEAD_JOBS_COLLECTION, deadJobKey, type DeadJobDocument } from './dead-letter.js';
import { jobIdOf, ROLLUP_QUEUE, type RollupWindowJob } from './definitions.js';
import { JOB_RUNS_COLLECTION, type JobRunDocument } from './testing/job-runs.js';

const run = createTestRun();
const workerScript = fileURLToPath(new URL('./testing/recording-worker.ts', import.meta.url));
const deadJobsScript = fileURLToPath(new URL('../cli/dead-jobs.ts', import.meta.url));
const children: ChildProcess[] = [];
let mongo: MongoHandle | undefined;
let producer: Bull.Queue<RollupWindowJob> | undefined;

/** Environment of a child worker: the run's database and prefix, fast lock expiry, and `extra`. */
function childEnv(prefix: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MONGO_URL: run.config.mongoUrl,
    MONGO_DATABASE: run.config.mongoDatabase,
    REDIS_URL: run.config.redisUrl,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'error',
    JOB_LOCK_DURATION_MS: '1000',
    JOB_STALLED_INTERVAL_MS: '500',
    ...extra,
  };
}

/** Starts a recording worker and resolves once it processes jobs. */
async function startWorker(
  prefix: string,
  extra: Record<string, string>
): Promise<ChildProcessWithoutNullStreams> {
  const child = spawn(process.execPath, ['--import', 'tsx', workerScript], {
    env: childEnv(prefix, extra),
    stdio: 'pipe',
  });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        resolve();
      }
    });
    child.once('exit', (code) => {
      reject(new Error(`Recording worker exited with ${String(code)} before it was ready: ${stderr}`));
    });
  });
  return child;
}

/** Waits until `predicate` is true; fails with `description` after `timeoutMs`. */
async function until(
  description: string,
  predicate: () => Promise<boolean>,
  timeoutMs: number
): Promise<void> {
  await waitFor(description, async () => ((await predicate()) ? true : undefined), timeoutMs);
}

function exitCodeOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode);
  }
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
}

function runsCollection(): import('mongodb').Collection<JobRunDocument> {
  assert.ok(mongo, 'Mongo is connected');
  return mongo.db.collection<JobRunDocument>(JOB_RUNS_COLLECTION);
}

function queueWithPrefix(prefix: string): Bull.Queue<RollupWindowJob> {
  producer = new Bull<RollupWindowJob>(ROLLUP_QUEUE, run.config.redisUrl, { prefix });
  return producer;
}

before(async () => {
  try {
    mongo = await connectMongo(run.config, 5_000);
    await mongo.db.command({ ping: 1 });
  } catch (err) {
    throw new Error(
      `MongoDB at ${run.config.mongoUrl} is not reachable; start it with peers/peers.sh start ferretdb.`,
      {
        cause: err,
      }
    );
  }
});

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
  await producer?.close();
  await mongo?.client.close();
  await dropTestDatabase(run.config);
});

void describe('job queues', () => {
  void it('runs 200 jobs once across two workers', { timeout: 60_000 }, async () => {
    const prefix = `${run.queuePrefix}-share`;
    const queue = queueWithPrefix(prefix);
    const workers = await Promise.all([
      startWorker(prefix, { WORKER_NAME: 'first', JOB_SLEEP_MS: '5' }),
      startWorker(prefix, { WORKER_NAME: 'second', JOB_SLEEP_MS: '5' }),
    ]);

    // Every job is added twice: the idempotent id keeps the second add from queueing it again.
    const payloads = Array.from({ length: 200 }, (_, index) => ({
      modelId: 'share',
      window: `w${String(index)}`,
    }));
    for (const round of [1, 2]) {
      await Promise.all(
        payloads.map((payload) =>
          queue.add(payload, { jobId: jobIdOf(ROLLUP_QUEUE, payload), removeOnComplete: false })
        )
      );
      assert.ok(round <= 2);
    }

    await until(
      '200 completed jobs',
      async () => (await runsCollection().countDocuments({ _id: /^rollup\/share\//, completed: 1 })) === 200,
      45_000
    );
    const counts = await queue.getJobCounts();
    assert.equal(counts.completed, 200);

    const documents = await runsCollection()
      .find({ _id: /^rollup\/share\// })
      .toArray();
    assert.equal(documents.length, 200);
    for (const document of documents) {
      assert.equal(document.started, 1, `${document._id} started once`);
      assert.equal(document.completed, 1, `${document._id} completed once`);
    }
    const byWorker = new Set(documents.map((document) => document.completedBy));
    assert.deepEqual([...byWorker].sort(), ['first', 'second'], 'both workers took jobs');

    for (const worker of workers) {
      worker.kill('SIGTERM');
      assert.equal(await exitCodeOf(worker), 0);
    }
    await queue.close();
  });

  void it('recovers a killed worker job', { timeout: 60_000 }, async () => {
    const prefix = `${run.queuePrefix}-stalled`;
    const queue = queueWithPrefix(prefix);
    const payload = { modelId: 'stalled', window: '2026-01-01' };
    const jobId = jobIdOf(ROLLUP_QUEUE, payload);

    const doomed = await startWorker(prefix, { WORKER_NAME: 'doomed', JOB_SLEEP_MS: '60000' });
    await queue.add(payload, { jobId });
    await until(
      'the first worker to start the job',
      async () => (await runsCollection().findOne({ _id: jobId }))?.started === 1,
      15_000
    );
    doomed.kill('SIGKILL');
    await exitCodeOf(doomed);

    const rescuer = await startWorker(prefix, { WORKER_NAME: 'rescuer', JOB_SLEEP_MS: '10' });
    await until(
      'the second worker to finish the stalled job',
      async () => (await runsCollection().findOne({ _id: jobId }))?.completed === 1,
      20_000
    );

    const document = await runsCollection().findOne({ _id: jobId });
    assert.ok(document, 'the job run is recorded');
    assert.deepEqual(document.startedBy, { doomed: 1, rescuer: 1 });
    assert.equal(document.completedBy, 'rescuer');
    rescuer.kill('SIGTERM');
    assert.equal(await exitCodeOf(rescuer), 0);
    await queue.close();
  });

  void it('finishes the active job on SIGTERM', { timeout: 60_000 }, async () => {
    const prefix = `${run.queuePrefix}-term`;
    const queue = queueWithPrefix(prefix);
    const payload = { modelId: 'term', window: '2026-01-01' };
    const jobId = jobIdOf(ROLLUP_QUEUE, payload);

    const worker = await startWorker(prefix, {
      WORKER_NAME: 'graceful',
      JOB_SLEEP_MS: '1500',
      SHUTDOWN_GRACE_MS: '10000',
    });
    await queue.add(payload, { jobId, removeOnComplete: false });
    await until(
      'the worker to start the job',
      async () => (await runsCollection().findOne({ _id: jobId }))?.started === 1,
      15_000
    );
    worker.kill('SIGTERM');

    assert.equal(await exitCodeOf(worker), 0, 'the worker exits cleanly');
    const document = await runsCollection().findOne({ _id: jobId });
    assert.ok(document, 'the job run is recorded');
    assert.equal(document.completed, 1, 'the active job finished before exit');
    const job = await queue.getJob(jobId);
    assert.equal(await job?.getState(), 'completed');
    await queue.close();
  });

  void it('dead-letters and retries a failed job', { timeout: 60_000 }, async () => {
    const prefix = `${run.queuePrefix}-dead`;
    const queue = queueWithPrefix(prefix);
    const payload = { modelId: 'dead', window: 'fail' };
    const jobId = jobIdOf(ROLLUP_QUEUE, payload);
    const key = deadJobKey(ROLLUP_QUEUE, jobId);
    const deadJobs = mongo?.db.collection<DeadJobDocument>(DEAD_JOBS_COLLECTION);
    assert.ok(deadJobs);

    const worker = await startWorker(prefix, { WORKER_NAME: 'failing' });
    await queue.add(payload, { jobId, attempts: 2, backoff: { type: 'exponential', delay: 50 } });
    await until(
      'the dead-letter document',
      async () => (await deadJobs.findOne({ _id: key })) !== null,
      15_000
    );

    const dead = await deadJobs.findOne({ _id: key });
    assert.ok(dead, 'the dead job is recorded');
    assert.equal(dead.attemptsMade, 2);
    assert.equal(dead.error, `Synthetic failure of job ${jobId}`);
    assert.deepEqual(dead.data, payload);
    assert.equal((await runsCollection().findOne({ _id: jobId }))?.started, 2);

    const cliEnv = childEnv(prefix, {});
    const listed = spawnSync(process.execPath, ['--import', 'tsx', deadJobsScript, 'list'], {
      env: cliEnv,
      encoding: 'utf8',
    });
    assert.equal(listed.status, 0, listed.stderr);
    const summaries = JSON.parse(listed.stdout) as { id: string; error: string }[];
    assert.ok(summaries.some((summary) => summary.id === key));

    const retried = spawnSync(process.execPath, ['--import', 'tsx', deadJobsScript, 'retry', key], {
      env: cliEnv,
      encoding: 'utf8',
    });
    assert.equal(retried.status, 0, retried.stderr);
    assert.match(retried.stdout, /added it again/);
    await until(
      'the retried job to run its two attempts again',
      async () => (await runsCollection().findOne({ _id: jobId }))?.started === 4,
      15_000
    );
    await until(
      'the second failure to be recorded',
      async () => (await deadJobs.findOne({ _id: key }))?.retriedAt === null,
      15_000
    );
    assert.equal((await deadJobs.findOne({ _id: key }))?.retries, 1);

    const unknown = spawnSync(process.execPath, ['--import', 'tsx', deadJobsScript, 'retry', 'nope'], {
      env: cliEnv,
      encoding: 'utf8',
    });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /No dead job with id 'nope'/);

    worker.kill('SIGTERM');
    assert.equal(await exitCodeOf(worker), 0);
    await queue.close();
  });
});
