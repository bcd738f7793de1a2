/**
 * Measures the listener's durable accept alone: the same load as `npm run bench:mllp` in immediate mode,
 * with the FHIR server pointed at a closed port and retries pushed out, so no processing competes with
 * the accept for the CPU. It shows what the accept path costs; it is not the benchmark of record,
 * because a listener always processes what it accepts.
 * Usage: `npx tsx bench/mllp-accept-probe.ts [--cell-ms 3000] [--rate 500]`. MONGO_URL selects the store.
 */
import { parseArgs } from 'node:util';
import { connectMongo, loadConfig, loadModelCatalog } from '@monitormed/common';
import { closedLoopbackPort } from '../hl7-listener/src/test-support/pipeline-harness.js';
import { startListenerProcess } from './bench-processes.js';
import { quantile, runClosedLoop, runFixedRate, type RunResult } from './mllp-load.js';
import { oruSource, type BenchPatient } from './mllp-messages.js';

const { values: args } = parseArgs({
  options: {
    'cell-ms': { type: 'string', default: '3000' },
    rate: { type: 'string', default: '500' },
  },
});
const cellMs = Number(args['cell-ms']);
const rate = Number(args.rate);
if (!(cellMs > 0) || !(rate > 0)) {
  console.error('Invalid --cell-ms or --rate: expected positive numbers, such as --cell-ms 3000 --rate 500.');
  process.exit(2);
}

const tag = `A${Date.now().toString(36).toUpperCase()}`;
const database = `monitormed_bench_${tag.toLowerCase()}`;
// The patients need not exist: processing fails before it looks for them.
const patients: BenchPatient[] = Array.from({ length: 20 }, (_unused, index) => ({
  mrn: `${tag}-${index}`,
  gender: index % 2 === 0 ? 'female' : 'male',
  birthDate: '1970-01-01',
}));
const source = oruSource(loadModelCatalog(), patients, tag, false);
const expected = new Set(['AA', 'AE', 'AR']);

function print(run: string, result: RunResult): void {
  console.log(
    `| ${run} | ${result.acknowledged} | ${(result.acknowledged / result.elapsedSeconds).toFixed(0)} | ${quantile(result.latenciesMs, 0.5).toFixed(2)} | ${quantile(result.latenciesMs, 0.99).toFixed(2)} |`
  );
}

const config = loadConfig();
const listener = await startListenerProcess({
  MONGO_DATABASE: database,
  FHIR_BASE_URL: `http://127.0.0.1:${await closedLoopbackPort()}/fhir`,
  HL7_CHANNELS: JSON.stringify([{ name: 'bench', ackMode: 'immediate', duplicatePolicy: 'reject' }]),
  HL7_MAX_CONNECTIONS: '200',
  HL7_RETRY_BASE_MS: '600000',
  HL7_RETRY_MAX_DELAY_MS: '600000',
  LOG_LEVEL: 'fatal',
});
try {
  console.log(`Store: ${config.mongoUrl}; listener in immediate mode, no FHIR server\n`);
  console.log('| Run | ACKs | Messages/s | p50 ACK ms | p99 ACK ms |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const connections of [1, 10, 50]) {
    print(`${connections} conn`, await runClosedLoop(listener.port, source, connections, cellMs, expected));
  }
  print(`${rate}/s fixed, 10 conn`, await runFixedRate(listener.port, source, 10, rate, cellMs, expected));
} finally {
  await listener.stop();
  const mongo = await connectMongo(config, 5_000);
  await mongo.client.db(database).dropDatabase();
  await mongo.client.close();
}
