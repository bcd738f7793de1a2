/**
 * `npm run demo [-- options]`: runs MonitorMed end to end on the local peers, prints a summary and the
 * URLs of every service and of the SMART launch pages. The services keep running until Ctrl-C, unless
 * `--exit` is given.
 */
// First, so that LOG_LEVEL is set before any service module creates its logger.
import './demo/quiet-logs.js';
import { parseArgs } from 'node:util';
import { runDemo, type DemoOptions, type DemoSummary } from './demo/run-demo.js';

const HELP = `Usage: npm run demo -- [options]

  --json                 print the summary as one JSON object on the last line
  --exit                 stop the services after the summary (the peers keep running)
  --patients N           Synthea patients to load and simulate (default 20)
  --per-day N            results per model per simulated day (default 40); the drift test
                         needs about 30 per day, so fewer make its verdicts less certain
  --days N               simulated days (default 10)
  --drift-day N          day on which the imaging model's scanner changes (default 6, 0 = no drift)
  --seed N               seed of Synthea and of the scenario (default 42)
  --settle-minutes N     how long to wait for the analysis before failing (default 20)
  --no-peers             do not install or start the peers (they must already run)
  -h, --help             show this help

Environment: GROUND_TRUTH=on also runs fhir-server-ext's ground-truth linking. The services log
warnings and errors only, so that the demo's progress lines stay readable; LOG_LEVEL=info shows more.`;

function readPositiveInteger(name: string, raw: string | undefined, allowZero = false): number | undefined {
  if (raw === undefined) {
    return undefined;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    process.stderr.write(
      `Invalid --${name} "${raw}": expected a whole number${allowZero ? '' : ' above 0'}.\n${HELP}\n`
    );
    process.exit(2);
  }
  return value;
}

function printText(summary: DemoSummary): void {
  const lines = [
    '',
    'MonitorMed demo summary',
    `  patients: ${summary.patients} (${summary.patientSource} Synthea bundles), days: ${summary.days}`,
    `  HL7 messages sent: ${summary.messagesSent}, ACKs: AA ${summary.acks.AA}, AE ${summary.acks.AE}, AR ${summary.acks.AR}`,
    `  vendor FHIR writes: ${summary.fhirDirectWrites}, AI Observations in FHIR: ${summary.observations}, Flags: ${summary.flags}`,
  ];
  if (summary.driftInjected !== null) {
    lines.push(
      `  drift injected: ${summary.driftInjected.modelId} from ${summary.driftInjected.startWindow}`
    );
  }
  for (const [modelId, model] of Object.entries(summary.models)) {
    const verdict = model.driftDetected
      ? `drift detected from ${String(model.firstDriftWindow)}`
      : 'no drift detected';
    lines.push(`  ${modelId}: ${verdict}`);
    for (const w of model.windows) {
      const p = w.pValue === null ? '-' : w.pValue.toExponential(2);
      lines.push(`    ${w.window}  ${w.status.padEnd(17)} n=${String(w.n).padStart(4)}  KS p=${p}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function printUrls(summary: DemoSummary): void {
  const url = (name: string): string => summary.urls[name] ?? '';
  const lines = [
    '',
    'SMART app (sign in as clinician, password monitormed-demo):',
    `  EHR launch          ${url('ehrSimulator')}`,
    `  standalone launch   ${url('standaloneLaunch')}`,
    '',
    'Services:',
    `  FHIR server (HAPI)          ${url('fhir')}/metadata`,
    `  MLLP listener               ${url('mllp')}`,
    `  listener metrics, health    ${url('listenerMetrics')}  ${url('listenerHealth')}`,
    `  fhir-server-ext             ${url('fhirServerExt')}/healthz`,
    `  SMART-secured FHIR          ${url('smartFhirEndpoint')}`,
    `  CDS Hooks discovery         ${url('cdsHooksDiscovery')}`,
    `  authorization server        ${url('authServer')}/.well-known/openid-configuration`,
    `  SMART configuration         ${url('smartConfiguration')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      exit: { type: 'boolean', default: false },
      patients: { type: 'string' },
      days: { type: 'string' },
      'drift-day': { type: 'string' },
      seed: { type: 'string' },
      'per-day': { type: 'string' },
      'settle-minutes': { type: 'string' },
      'no-peers': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }

  const options: DemoOptions = { startPeers: !values['no-peers'] };
  const patients = readPositiveInteger('patients', values.patients);
  const days = readPositiveInteger('days', values.days);
  const driftDay = readPositiveInteger('drift-day', values['drift-day'], true);
  const seed = readPositiveInteger('seed', values.seed, true);
  const perDay = readPositiveInteger('per-day', values['per-day']);
  const settleMinutes = readPositiveInteger('settle-minutes', values['settle-minutes']);
  if (patients !== undefined) options.patients = patients;
  if (days !== undefined) options.days = days;
  if (driftDay !== undefined) options.driftDay = driftDay;
  if (seed !== undefined) options.seed = seed;
  if (perDay !== undefined) options.resultsPerModelPerDay = perDay;
  if (settleMinutes !== undefined) options.settleTimeoutMs = settleMinutes * 60_000;

  // The handler is installed before setup, which takes minutes, so Ctrl-C at any point stops the
  // services and deletes the demo's Subscriptions instead of leaving HAPI retrying a dead endpoint.
  let closeDemo: (() => Promise<void>) | undefined;
  const stop = (): void => {
    const closing = closeDemo?.() ?? Promise.resolve();
    void closing.finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  options.receiveClose = (close) => {
    closeDemo = close;
  };

  const run = await runDemo(options);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(run.summary)}\n`);
  } else {
    printText(run.summary);
  }

  if (values.exit) {
    await run.close();
    process.stderr.write(
      'The services are stopped; the peers keep running (peers/peers.sh stop stops them).\n'
    );
    return;
  }
  if (!values.json) {
    printUrls(run.summary);
  }
  process.stderr.write('The stack is up. Press Ctrl-C to stop the services (the peers keep running).\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`Demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
