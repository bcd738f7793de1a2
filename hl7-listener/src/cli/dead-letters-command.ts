/** The dead-letter command line (see `dead-letters.ts` for usage), runnable in-process for tests. */
import { ConfigError, connectMongo, loadConfig, type MongoHandle } from '@monitormed/common';
import { DeadLetterError } from '../dead-letter-error.js';
import {
  listDeadLetters,
  replayAllDeadLetters,
  replayDeadLetter,
  showDeadLetter,
  type DeadLetterSummary,
} from '../dead-letters.js';
import { MessageStore, type MessageStatus } from '../store/message-store.js';
import { UsageError } from './usage-error.js';

const USAGE = `Usage: dead-letters.ts <command> [options]
Commands:
  list              List dead letters, newest first
  show <id>         Show one message: status, reason, errors and ACKs
  replay <id>       Put a dead, failed or rejected message back in the processing queue
  replay --all      Put every dead letter back in the processing queue
Options:
  --json            Print JSON instead of text
  --status LIST     list: comma-separated states (dead, failed, rejected); default dead
  --limit N         list: maximum number of messages; default 100
  --raw             show: include the message text (contains patient data)
Environment: MONGO_URL and MONGO_DATABASE select the listener's database.`;

const STATUSES = new Set<string>(['dead', 'failed', 'rejected', 'received', 'processing', 'processed']);

interface Options {
  command: string;
  id: string | undefined;
  json: boolean;
  raw: boolean;
  all: boolean;
  statuses: MessageStatus[];
  limit: number;
}

function parseArguments(args: string[]): Options {
  const options: Options = {
    command: '',
    id: undefined,
    json: false,
    raw: false,
    all: false,
    statuses: ['dead'],
    limit: 100,
  };
  const positional: string[] = [];
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index] ?? '';
    if (arg === '--json') {
      options.json = true;
    } else if (arg === '--raw') {
      options.raw = true;
    } else if (arg === '--all') {
      options.all = true;
    } else if (arg === '--status') {
      index += 1;
      const statuses = (args[index] ?? '').split(',').filter((status) => status !== '');
      const unknown = statuses.find((status) => !STATUSES.has(status));
      if (statuses.length === 0 || unknown !== undefined) {
        throw new UsageError(
          `Invalid --status "${args[index] ?? ''}": expected states such as dead,failed,rejected.`
        );
      }
      options.statuses = statuses as MessageStatus[];
    } else if (arg === '--limit') {
      index += 1;
      const limit = Number(args[index]);
      if (!Number.isInteger(limit) || limit < 1) {
        throw new UsageError(`Invalid --limit "${args[index] ?? ''}": expected a positive integer.`);
      }
      options.limit = limit;
    } else if (arg === '--help' || arg === '-h') {
      options.command = 'help';
    } else if (arg.startsWith('--')) {
      throw new UsageError(`Unknown option ${arg}.`);
    } else {
      positional.push(arg);
    }
  }

  options.command = options.command === 'help' ? 'help' : (positional[0] ?? '');
  options.id = positional[1];
  if (positional.length > 2) {
    throw new UsageError(`Unexpected argument "${positional[2] ?? ''}".`);
  }
  if (options.command === 'show' && options.id === undefined) {
    throw new UsageError('show needs a message id, for example: show 6b1343124ecab6be44ff4dfc');
  }
  if (options.command === 'replay' && (options.id === undefined) === !options.all) {
    throw new UsageError('replay needs either one message id or --all.');
  }
  if (!['list', 'show', 'replay', 'help'].includes(options.command)) {
    throw new UsageError(
      options.command === ''
        ? 'Missing command.'
        : `Unknown command "${options.command}"; use list, show or replay.`
    );
  }
  return options;
}

function summaryLine(letter: DeadLetterSummary): string {
  return [
    letter.id,
    letter.status,
    letter.receivedAt,
    `${letter.sendingFacility ?? ''}|${letter.controlId ?? ''}`,
    `attempts=${letter.attempts}`,
    letter.reason ?? '',
  ].join('  ');
}

/** Output streams of the command. */
export interface CommandOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

async function run(options: Options, store: MessageStore, output: CommandOutput): Promise<void> {
  const print = (json: boolean, value: unknown, text: () => string): void => {
    output.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
  };

  if (options.command === 'list') {
    const letters = await listDeadLetters(store, options.statuses, options.limit);
    print(options.json, letters, () =>
      letters.length === 0
        ? `No messages with status ${options.statuses.join(', ')}.`
        : letters.map(summaryLine).join('\n')
    );
    return;
  }
  if (options.command === 'show') {
    const letter = await showDeadLetter(store, options.id ?? '', options.raw);
    print(options.json, letter, () =>
      Object.entries(letter)
        .filter(([, value]) => value !== undefined)
        .map(
          ([key, value]) =>
            `${key}: ${typeof value === 'string' ? value.replace(/\r/g, '\n  ') : JSON.stringify(value)}`
        )
        .join('\n')
    );
    return;
  }

  const replayed = options.all
    ? await replayAllDeadLetters(store)
    : [await replayDeadLetter(store, options.id ?? '')];
  print(options.json, replayed, () =>
    `Requeued ${replayed.length} message(s); a running listener on this database processes them.\n${replayed.map(summaryLine).join('\n')}`.trimEnd()
  );
}

/**
 * Runs the dead-letter command line.
 * @param args - Arguments after the script name.
 * @param env - Environment with MONGO_URL and MONGO_DATABASE.
 * @returns The exit status: 0 done, 1 failed, 2 invalid usage or a message id to fix.
 */
export async function runDeadLetterCommand(
  args: string[],
  output: CommandOutput,
  env: Record<string, string | undefined> = process.env
): Promise<number> {
  let options: Options;
  try {
    options = parseArguments(args);
  } catch (err) {
    if (err instanceof UsageError) {
      output.stderr(`${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (options.command === 'help') {
    output.stdout(`${USAGE}\n`);
    return 0;
  }

  let mongo: MongoHandle | undefined;
  try {
    const config = loadConfig(env);
    try {
      mongo = await connectMongo(config, 5_000);
    } catch (err) {
      output.stderr(
        `Cannot connect to MongoDB at ${config.mongoUrl}: ${err instanceof Error ? err.message : String(err)}. Check MONGO_URL.\n`
      );
      return 1;
    }
    await run(options, new MessageStore(mongo.db), output);
    return 0;
  } catch (err) {
    if (err instanceof DeadLetterError || err instanceof ConfigError) {
      output.stderr(`${err.message}\n`);
      return 2;
    }
    output.stderr(`Failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await mongo?.client.close();
  }
}
