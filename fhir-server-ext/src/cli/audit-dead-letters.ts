/**
 * Lists or replays the AuditEvents whose audit-queue jobs failed every attempt (the MongoDB collection
 * `dead_audit_events`). Run it after fixing what made the FHIR server reject them:
 *   npm run -w @monitormed/fhir-server-ext audit-dead-letters -- list
 *   npm run -w @monitormed/fhir-server-ext audit-dead-letters -- replay
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig, type MonitorMedConfig } from '@monitormed/common';
import { createAuditDeadLetters } from '../proxy/audit-dead-letters.js';
import { writeAuditEvent } from '../proxy/audit-queue.js';

const USAGE = `Usage: audit-dead-letters <command> [options]
Commands:
  list          Print the dead AuditEvents: id, failure time, attempts and last error
  replay        Write every dead AuditEvent to the FHIR server and remove each one written
Options:
  --limit N     list: maximum number of AuditEvents printed; default 100
  --json        Print JSON instead of text
  --help        Print this help
Environment: MONGO_URL and MONGO_DATABASE select the store; FHIR_BASE_URL the FHIR server.`;

/**
 * Runs the command line.
 * @param args - Arguments after the script name.
 * @param print - Receives each output line.
 * @param config - Defaults to the environment's configuration.
 * @returns The process exit code: 0 done, 1 some AuditEvents still failing, 2 usage error.
 */
export async function runAuditDeadLetters(
  args: string[],
  print: (line: string) => void,
  config?: MonitorMedConfig
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { limit: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
    });
  } catch (err) {
    print(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help === true) {
    print(USAGE);
    return 0;
  }
  const limit = Number(values.limit ?? '100');
  if (!Number.isInteger(limit) || limit < 1) {
    print(`--limit must be a positive whole number, not "${values.limit ?? ''}".`);
    return 2;
  }
  if (command !== 'list' && command !== 'replay') {
    print(`${command === undefined ? 'A command is missing.' : `Unknown command "${command}".`}\n${USAGE}`);
    return 2;
  }

  const { fhirBaseUrl, mongoUrl, mongoDatabase } = config ?? loadConfig();
  const deadLetters = createAuditDeadLetters({ mongoUrl, mongoDatabase });
  try {
    if (command === 'list') {
      const documents = await deadLetters.list(limit);
      if (values.json === true) {
        const auditEvents = documents.map(({ auditEvent, ...rest }) => ({
          ...rest,
          recorded: auditEvent.recorded,
        }));
        print(JSON.stringify({ database: mongoDatabase, auditEvents }));
      } else {
        print(
          `${documents.length} dead AuditEvent(s)${documents.length === limit ? ' shown (more may exist)' : ''} in database ${mongoDatabase}`
        );
        for (const document of documents) {
          print(
            `${document._id}  failed ${document.failedAt.toISOString()} after ${document.attemptsMade}/${document.attempts} attempts: ${document.error}`
          );
        }
      }
      return 0;
    }

    const result = await deadLetters.replay((event) =>
      writeAuditEvent(event, { fhirBaseUrl: fhirBaseUrl, writeTimeoutMs: 30_000 })
    );
    if (values.json === true) {
      print(JSON.stringify(result));
    } else {
      print(
        `Wrote ${result.written.length} AuditEvent(s) to ${fhirBaseUrl}; ${result.failed.length} still failing.`
      );
      for (const failure of result.failed) {
        print(`${failure.id}: ${failure.error}`);
      }
    }
    return result.failed.length === 0 ? 0 : 1;
  } finally {
    await deadLetters.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runAuditDeadLetters(process.argv.slice(2), (line) => process.stdout.write(`${line}\n`)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        `audit-dead-letters failed: ${(err as Error).message}. Check that MongoDB (MONGO_URL) and the FHIR server (FHIR_BASE_URL) are running.\n`
      );
      process.exitCode = 1;
    }
  );
}
