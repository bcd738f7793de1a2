/**
 * MLLP throughput and ACK latency of a bare echo server (the upper bound) and of the MonitorMed listener in
 * each ACK mode, side by side, plus the rate at which the listener's results land in HAPI.
 * Usage: `npm run bench:mllp -- [--cell-ms 4000] [--rate 500] [--rate-ms 5000] [--drain-ms 15000]
 * [--modes original,enhanced,immediate] [--out bench/results/mllp-throughput.md] [--cpu-prof-dir DIR]`.
 * It starts its own listeners on free ports with their own MongoDB databases; HAPI, FerretDB and Redis are
 * the running peers (`peers/peers.sh start all`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { connectMongo, loadConfig } from '@monitormed/common';
import { startEchoServer, startListenerProcess, type BenchProcess } from './bench-processes.js';
import { quantile, runClosedLoop, runFixedRate, type FrameSource, type RunResult } from './mllp-load.js';
import { countLandedResults, createBenchPatients, oruSource, writeBenchCatalog } from './mllp-messages.js';

const CONNECTION_COUNTS = [1, 10, 50];
/** Connections of the fixed-rate run: enough that one slow ACK does not hold back the schedule. */
const FIXED_RATE_CONNECTIONS = 10;
const PATIENT_COUNT = 20;
type AckMode = 'original' | 'enhanced' | 'immediate';

const USAGE = `Usage: npm run bench:mllp -- [options]
  --cell-ms MS          length of each closed-loop run (default 4000)
  --rate N              messages per second of the fixed-rate run (default 500)
  --rate-ms MS          length of the fixed-rate run (default 5000)
  --drain-ms MS         how long to wait after the last ACK for results to land in HAPI (default 15000)
  --modes LIST          ACK modes to measure, comma-separated: original,enhanced,immediate (the default)
  --out FILE            report file (default bench/results/mllp-throughput.md, the committed results:
                        use another file for a trial run)
  --cpu-prof-dir DIR    write a CPU profile of each listener process to DIR
Needs the peers: peers/peers.sh start all.`;

/** Parses the command line. On an invalid option, prints the error and the usage and exits with status 2. */
function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        help: { type: 'boolean', default: false },
        'cell-ms': { type: 'string', default: '4000' },
        rate: { type: 'string', default: '500' },
        'rate-ms': { type: 'string', default: '5000' },
        'drain-ms': { type: 'string', default: '15000' },
        modes: { type: 'string', default: 'original,enhanced,immediate' },
        out: { type: 'string', default: 'bench/results/mllp-throughput.md' },
        'cpu-prof-dir': { type: 'string' },
      },
    }).values;
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exit(2);
  }
}

const args = parseCommandLine();
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

function positiveNumber(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`Invalid --${name} ${raw}: expected a positive number.`);
    process.exit(2);
  }
  return value;
}

const cellMs = positiveNumber('cell-ms', args['cell-ms']);
const rate = positiveNumber('rate', args.rate);
const rateMs = positiveNumber('rate-ms', args['rate-ms']);
const drainMs = positiveNumber('drain-ms', args['drain-ms']);
const modes = args.modes.split(',').map((mode) => mode.trim());
for (const mode of modes) {
  if (mode !== 'original' && mode !== 'enhanced' && mode !== 'immediate') {
    console.error(`Invalid mode ${mode} in --modes: expected original, enhanced or immediate.`);
    process.exit(2);
  }
}

/** One row of the throughput table. */
interface Row {
  server: string;
  run: string;
  result: RunResult;
}

const rows: Row[] = [];
const landing: string[] = [];
const notes: string[] = [];

function format(value: number, digits = 1): string {
  return Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
}

function record(server: string, run: string, result: RunResult): void {
  rows.push({ server, run, result });
  const perSecond = result.acknowledged / result.elapsedSeconds;
  console.error(
    `${server} ${run}: ${result.acknowledged} ACKs, ${format(perSecond, 0)}/s, p50 ${format(quantile(result.latenciesMs, 0.5), 2)} ms, p99 ${format(quantile(result.latenciesMs, 0.99), 2)} ms`
  );
}

async function runCells(
  server: string,
  port: number,
  source: FrameSource,
  expected: Set<string>
): Promise<void> {
  for (const connections of CONNECTION_COUNTS) {
    record(server, `${connections} conn`, await runClosedLoop(port, source, connections, cellMs, expected));
  }
  record(
    server,
    `${rate}/s fixed, ${FIXED_RATE_CONNECTIONS} conn`,
    await runFixedRate(port, source, FIXED_RATE_CONNECTIONS, rate, rateMs, expected)
  );
}

const config = loadConfig();
const tag = `B${Date.now().toString(36).toUpperCase()}`;
const workDir = mkdtempSync(join(tmpdir(), 'monitormed-bench-'));
const loadBefore = loadavg();
const startedAt = new Date();
const processes: BenchProcess[] = [];
const databases: string[] = [];

try {
  const echo = await startEchoServer();
  processes.push(echo);
  await runCells(
    'echo',
    echo.port,
    () => Buffer.from('\x0bMSH|^~\\&|B|B|E|E|1||ORU^R01|1|P|2.5.1\r\x1c\r'),
    new Set(['AA'])
  );
  await echo.stop();

  const patients = await createBenchPatients(config.fhirBaseUrl, tag, PATIENT_COUNT);
  for (const mode of modes as AckMode[]) {
    const suffix = `${tag.toLowerCase()}-${mode}`;
    const { models, file } = writeBenchCatalog(workDir, suffix);
    const database = `monitormed_bench_${tag.toLowerCase()}_${mode}`;
    databases.push(database);
    const listener = await startListenerProcess(
      {
        MONGO_DATABASE: database,
        MONITORMED_MODELS_FILE: file,
        HL7_CHANNELS: JSON.stringify([{ name: 'bench', ackMode: mode, duplicatePolicy: 'reject' }]),
        HL7_MAX_CONNECTIONS: '200',
        LOG_LEVEL: 'warn',
      },
      // The profile is written when the listener exits, one .cpuprofile file per process.
      args['cpu-prof-dir'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof-dir']}`]
    );
    processes.push(listener);

    const expected = new Set(mode === 'enhanced' ? ['CA', 'CE', 'CR'] : ['AA', 'AE', 'AR']);
    const source = oruSource(models, patients, `${tag}-${mode}`, mode === 'enhanced');
    const modeStartedAt = performance.now();
    await runCells(`listener ${mode}`, listener.port, source, expected);
    const modeRows = rows.filter((row) => row.server === `listener ${mode}`);
    const sent = modeRows.reduce((sum, row) => sum + row.result.sent, 0);
    const accepted = modeRows.reduce(
      (sum, row) => sum + (row.result.codes.get(mode === 'enhanced' ? 'CA' : 'AA') ?? 0),
      0
    );

    // Results keep landing after the last ACK, so HAPI is polled until all arrive or the drain time ends.
    let landed = 0;
    const drainDeadline = performance.now() + drainMs;
    do {
      landed = await countLandedResults(config.fhirBaseUrl, models);
      if (landed >= sent) {
        break;
      }
      await delay(1_000);
    } while (performance.now() < drainDeadline);
    const landingSeconds = (performance.now() - modeStartedAt) / 1000;
    landing.push(
      `| ${mode} | ${sent} | ${accepted} | ${landed} | ${format(landingSeconds)} | ${format(landed / landingSeconds)} |`
    );
    console.error(
      `listener ${mode}: ${landed} of ${accepted} accepted results in HAPI after ${format(landingSeconds)} s`
    );
    if (landed < sent) {
      notes.push(
        `${mode}: ${sent - landed} of ${sent} results had not landed in HAPI ${drainMs} ms after the last ACK, and Results/s counts only those that had. Set a longer --drain-ms to give them time.`
      );
    }
    if (listener.child.exitCode !== null) {
      notes.push(`The ${mode} listener exited early: ${listener.tail()}`);
    }
    await listener.stop();
  }
} finally {
  for (const process of processes) {
    await process.stop();
  }
  rmSync(workDir, { recursive: true, force: true });
  if (databases.length > 0) {
    const mongo = await connectMongo(config, 5_000);
    for (const database of databases) {
      await mongo.client.db(database).dropDatabase();
    }
    await mongo.client.close();
  }
}

const loadAfter = loadavg();
const table = [
  '| Server | Run | ACKs | Messages/s | p50 ACK ms | p99 ACK ms | ACK codes | Other replies |',
  '| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |',
  ...rows.map(({ server, run, result }) =>
    [
      '',
      server,
      run,
      result.acknowledged,
      format(result.acknowledged / result.elapsedSeconds, 0),
      format(quantile(result.latenciesMs, 0.5), 2),
      format(quantile(result.latenciesMs, 0.99), 2),
      [...result.codes].map(([code, count]) => `${code} ${count}`).join(', '),
      result.otherReplies,
      '',
    ]
      .join(' | ')
      .trim()
  ),
].join('\n');

const report = `# MLLP throughput and ACK latency

- Date: ${startedAt.toISOString()}
- Machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, ${process.platform}
- Command: \`npm run bench:mllp -- --cell-ms ${cellMs} --rate ${rate} --rate-ms ${rateMs} --drain-ms ${drainMs} --modes ${modes.join(',')}\`
- Load average (1, 5, 15 min) before: ${loadBefore.map((value) => value.toFixed(2)).join(', ')}; after: ${loadAfter.map((value) => value.toFixed(2)).join(', ')}
- Peers: HAPI FHIR ${config.fhirBaseUrl}, FerretDB ${config.mongoUrl}.

Closed-loop runs keep one message in flight per connection for ${cellMs} ms. The fixed-rate run sends ${rate}
messages/s over ${FIXED_RATE_CONNECTIONS} connections for ${rateMs} ms and counts latency from when each message was due.
Latency is from the write of a frame to the read of its ACK (an accept ACK, CA, in enhanced mode). The listener
runs in its own process with LOG_LEVEL=warn and stores every message in MongoDB before it acknowledges it.
Immediate mode sends AA once the message is stored; original mode sends AA or AE after the FHIR transaction,
so it runs at the processing rate, and at a fixed rate its messages queue behind one another. Other replies
are the application ACKs of enhanced mode and any reply with a code the run does not wait for.

${table}

Results in HAPI (Observations whose device is one of the run's model Devices), counted from the first message
of the mode until every sent message landed or ${drainMs} ms after its last ACK. A message whose ACK came
after its run ended is not counted as accepted, but it can still land in HAPI:

| Mode | Sent | Accepted in time (AA or CA) | In HAPI | Seconds | Results/s |
| --- | ---: | ---: | ---: | ---: | ---: |
${landing.join('\n')}
${notes.length > 0 ? `\n${notes.map((note) => `- ${note}`).join('\n')}\n` : ''}`;

console.log(report);
writeFileSync(args.out, report);
console.error(`Wrote ${args.out}`);
