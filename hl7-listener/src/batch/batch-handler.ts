import { randomUUID } from 'node:crypto';
import type { Logger } from '@monitormed/common';
import type { PeerInfo } from '../mllp/server.js';
import type { MessageInput, MessageOutcome } from '../processor.js';
import { buildBatchAck } from './batch-ack.js';
import type { SplitBatch } from './split.js';

/**
 * Processes each message of a batch on its own, in order, and returns one batch ACK. Every message is
 * stored as its own document linked to the batch by `batch.id`, so an envelope problem never loses one.
 * @param batch - The split frame.
 * @param peer - The sending connection.
 * @param handleMessage - Stores, processes and acknowledges one message; it must not throw.
 * @param logger - Receives the batch summary (ids and counts only).
 * @returns The batch ACK text without MLLP framing.
 */
export async function handleBatch(
  batch: SplitBatch,
  peer: PeerInfo,
  handleMessage: (input: MessageInput) => Promise<MessageOutcome>,
  logger: Logger
): Promise<string> {
  const batchId = randomUUID();
  const outcomes: MessageOutcome[] = [];

  for (const [index, bytes] of batch.messages.entries()) {
    outcomes.push(
      await handleMessage({
        bytes,
        byteLength: bytes.length,
        peer,
        batch: { id: batchId, index, size: batch.messages.length },
      })
    );
  }

  logger.info(
    { batchId, messageCount: outcomes.length, envelopeIssueCount: batch.issues.length },
    'Batch processed'
  );
  return buildBatchAck({
    ...(batch.fileHeader === undefined ? {} : { fileHeader: batch.fileHeader }),
    ...(batch.batchHeader === undefined ? {} : { batchHeader: batch.batchHeader }),
    firstMessageHeader: outcomes[0]?.header ?? [],
    // An empty ACK is one MSH-15 said not to send, so it is left out of the batch ACK.
    acks: outcomes.map((outcome) => outcome.ack).filter((ack) => ack !== ''),
    issues: batch.issues,
  });
}
