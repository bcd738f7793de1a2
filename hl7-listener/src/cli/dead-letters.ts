/**
 * Dead-letter CLI of the HL7 listener:
 *   npx tsx hl7-listener/src/cli/dead-letters.ts list [--status dead,failed] [--limit N] [--json]
 *   npx tsx hl7-listener/src/cli/dead-letters.ts show <id> [--raw] [--json]
 *   npx tsx hl7-listener/src/cli/dead-letters.ts replay <id> | --all [--json]
 * It reads MONGO_URL and MONGO_DATABASE like the listener. Exit status: 0 done, 1 failed, 2 invalid usage.
 */
import { runDeadLetterCommand } from './dead-letters-command.js';

process.exitCode = await runDeadLetterCommand(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
