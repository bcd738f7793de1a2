/**
 * Sends HL7 v2 message files to an MLLP listener, as an interface engine would, and reports each ACK.
 * A file may contain `{{CONTROL_ID}}` and `{{PATIENT_ID}}` placeholders, as the listener's test
 * fixtures do: each send gets a fresh control id, and the patient id comes from the caller.
 */
import { readFile } from 'node:fs/promises';
import { CliUsageError } from './cli-error.js';
import { MllpClient, type AckResult } from './scenario/mllp-client.js';

/** Options of {@link sendMessageFiles}. */
export interface SendOptions {
  host: string;
  port: number;
  /** Replaces `{{PATIENT_ID}}` (PID-3.1); required when a file contains it. */
  patientId: string | undefined;
  ackTimeoutMs: number;
}

/** The ACK of one sent file, with the ERR segments of an AE or AR. */
export interface SentFile {
  file: string;
  controlId: string;
  code: string;
  errors: string[];
}

/**
 * Reads a message file, fills its placeholders and turns LF and CRLF segment ends into CR, the HL7 v2
 * segment terminator.
 * @throws CliUsageError when the file contains `{{PATIENT_ID}}` and no patient id is given.
 */
export async function prepareMessage(
  file: string,
  controlId: string,
  patientId: string | undefined
): Promise<string> {
  const text = await readFile(file, 'utf8');
  if (text.includes('{{PATIENT_ID}}') && patientId === undefined) {
    throw new CliUsageError(
      `${file} contains {{PATIENT_ID}}: pass --patient with the PID-3 identifier to use.`
    );
  }
  return text
    .replaceAll('{{CONTROL_ID}}', controlId)
    .replaceAll('{{PATIENT_ID}}', patientId ?? '')
    .split(/\r\n|\r|\n/)
    .filter((segment) => segment !== '')
    .join('\r');
}

/** Returns the ERR segments of an ACK. */
function errSegments(ack: AckResult): string[] {
  return ack.raw.split(/\r\n|\r|\n/).filter((segment) => segment.startsWith('ERR'));
}

/**
 * Sends each file over one MLLP connection, in order, and waits for each ACK.
 * @returns One entry per file.
 * @throws MllpError when the listener cannot be reached or an ACK does not arrive in time.
 */
export async function sendMessageFiles(files: readonly string[], options: SendOptions): Promise<SentFile[]> {
  const client = new MllpClient({
    host: options.host,
    port: options.port,
    ackTimeoutMs: options.ackTimeoutMs,
  });
  const runTag = Date.now().toString(36).toUpperCase();
  const sent: SentFile[] = [];
  try {
    await client.connect();
    for (const [index, file] of files.entries()) {
      const controlId = `SEND${runTag}${String(index + 1)}`;
      const ack = await client.send(await prepareMessage(file, controlId, options.patientId));
      sent.push({ file, controlId, code: ack.code, errors: errSegments(ack) });
    }
  } finally {
    await client.close();
  }
  return sent;
}
