import { pino, type Logger } from 'pino';

/**
 * Paths pino removes from every log line. Services log ids and counts, never patient data, so these
 * paths are a second line of defence for a resource or message object that reaches a log call.
 */
const PHI_REDACT_PATHS = [
  'name',
  'birthDate',
  'address',
  'telecom',
  'identifier',
  'raw',
  'message',
  'text',
  '*.name',
  '*.birthDate',
  '*.address',
  '*.telecom',
  '*.identifier',
  '*.raw',
  '*.text',
];

/**
 * Creates the pino logger of one service.
 * @param service - Service name written into every line as `service`, for example `hl7-listener`.
 * @param level - pino level such as `info` or `debug`.
 * @returns A logger that redacts patient data fields.
 */
export function createLogger(service: string, level = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  // LOG_DESTINATION=stderr keeps standard output free for a command's own result, as in the demo.
  const destination = pino.destination(process.env['LOG_DESTINATION'] === 'stderr' ? 2 : 1);
  return pino(
    {
      // The service goes under `service`, not pino's `name`, because `name` is a redacted PHI path.
      base: { service, pid: process.pid },
      level,
      redact: { paths: PHI_REDACT_PATHS, censor: '[redacted]' },
    },
    destination
  );
}

export type { Logger };
