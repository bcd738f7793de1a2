import { pino, type DestinationStream, type Logger } from 'pino';

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
 * Serializes an error as pino does, but without `name`, which `*.name` would redact. `type` already
 * gives the class; a name that differs from it (an `AbortError` raised as a `DOMException`) moves
 * to `errorName`.
 */
function serializeError(err: Error): Record<string, unknown> {
  const { name, ...serialized } = pino.stdSerializers.err(err) as Record<string, unknown>;
  if (typeof name === 'string' && name !== serialized['type']) {
    serialized['errorName'] = name;
  }
  return serialized;
}

/**
 * Creates the pino logger of one service.
 * @param service - Service name written into every line as `service`, for example `hl7-listener`.
 * @param level - pino level such as `info` or `debug`.
 * @param destination - Where lines go; standard output unless LOG_DESTINATION=stderr.
 * @returns A logger that redacts patient data fields.
 */
export function createLogger(
  service: string,
  level = process.env['LOG_LEVEL'] ?? 'info',
  destination: DestinationStream = defaultDestination()
): Logger {
  return pino(
    {
      // The service goes under `service`, not pino's `name`, because `name` is a redacted PHI path.
      base: { service, pid: process.pid },
      level,
      redact: { paths: PHI_REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError },
    },
    destination
  );
}

function defaultDestination(): DestinationStream {
  // LOG_DESTINATION=stderr keeps standard output free for a command's own result, as in the demo.
  return pino.destination(process.env['LOG_DESTINATION'] === 'stderr' ? 2 : 1);
}

export type { Logger };
