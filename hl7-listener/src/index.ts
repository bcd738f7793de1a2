import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  connectMongo,
  createFhirClient,
  createLogger,
  loadModelCatalog,
  type AiModelDefinition,
  type FhirClient,
  type Logger,
  type MongoHandle,
} from '@monitormed/common';
import { loadListenerConfig, type ListenerConfig } from './config.js';
import { createListenerMetrics, type ListenerMetrics } from './metrics.js';
import { MllpServer } from './mllp/server.js';
import { loadTlsOptions } from './mllp/tls.js';
import { checkMongoHealth, type HealthReport } from './http/health.js';
import { createMessageProcessor } from './processor.js';
import { finishMessage } from './pipeline/finish.js';
import { OutcomeHub } from './pipeline/outcome-hub.js';
import { processStoredBatch } from './pipeline/process-batch.js';
import { AcceptPriority } from './pipeline/accept-priority.js';
import { ProcessingWorker } from './pipeline/worker.js';
import { DEFAULT_CHANNEL, matchChannel } from './channels/channels.js';
import { MessageStore } from './store/message-store.js';

export { buildAck, formatHl7Timestamp, type AckCode, type AckInput } from './ack/ack-builder.js';
export { loadListenerConfig, type ListenerConfig, type NonAiResultsMode } from './config.js';
export {
  encodeFrame,
  MllpFrameDecoder,
  START_BLOCK,
  END_BLOCK,
  CARRIAGE_RETURN,
  DEFAULT_MAX_MESSAGE_BYTES,
} from './mllp/framing.js';
export { decodeEscapes } from './hl7/escape.js';
export {
  parseMessage,
  peekHeader,
  splitSegments,
  type Hl7Message,
  type MessageHeader,
} from './hl7/message.js';
export { startOpsServer, type OpsServer, type OpsServerOptions } from './http/ops-server.js';
export { checkMongoHealth, type HealthReport } from './http/health.js';
export { createListenerMetrics, type ListenerMetrics } from './metrics.js';
export { TlsConfigError } from './mllp/tls-config-error.js';
export { ERROR_CODES, Hl7ProcessingError, type Hl7Issue } from './hl7/hl7-error.js';
export {
  MessageStore,
  OUTCOMES_COLLECTION,
  QUEUE_SEGMENT_PREFIX,
  type Hl7MessageDocument,
  type MessageStatus,
  type StoredDocument,
} from './store/message-store.js';
export { DeadLetterError } from './dead-letter-error.js';
export {
  REPLAYABLE_STATUSES,
  listDeadLetters,
  parseMessageId,
  replayAllDeadLetters,
  replayDeadLetter,
  showDeadLetter,
  type DeadLetterDetail,
  type DeadLetterSummary,
} from './dead-letters.js';
export {
  DEFAULT_CHANNEL,
  loadChannels,
  matchChannel,
  type AckModeSetting,
  type ChannelConfig,
  type DuplicatePolicy,
} from './channels/channels.js';
export { loadPipelineConfig, type PipelineConfig } from './pipeline/pipeline-config.js';
export { PENDING_ACK_TEXT } from './processor.js';
export { groupResults, type OrderGroup } from './fhir/result-groups.js';
export {
  buildResultTransaction,
  type PatientLink,
  type TransactionInput,
  type TransactionPlan,
} from './fhir/transaction.js';

/** Options of {@link startListener}; everything not given comes from `loadListenerConfig()` and common defaults. */
export interface StartListenerOptions {
  /** Overrides of the configuration read from the environment (for example `mllpPort: 0` in tests). */
  config?: Partial<ListenerConfig>;
  /** FHIR client; by default one for `config.fhirBaseUrl`. */
  fhirClient?: FhirClient;
  /** Open MongoDB handle; by default the listener connects to `config.mongoUrl` and closes it on `close()`. */
  mongo?: MongoHandle;
  /** AI model catalog; by default `loadModelCatalog()`. */
  models?: AiModelDefinition[];
  logger?: Logger;
}

/** A running listener. */
export interface ListenerHandle {
  /** Bound TCP port (the real one when started on port 0). */
  port: number;
  host: string;
  config: ListenerConfig;
  metrics: ListenerMetrics;
  /** Pings MongoDB, without which no message can be stored or acknowledged AA; serves `GET /health`. */
  checkHealth(): Promise<HealthReport>;
  /** Stops accepting, lets messages in flight finish, closes connections and the MongoDB client it opened. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts the MLLP listener: connects to MongoDB, creates the message indexes and binds the port.
 * @param options - Configuration overrides and injected clients.
 * @returns The handle with the bound port and `close()`.
 * @throws When MongoDB cannot be reached at start or the port cannot be bound.
 */
export async function startListener(options: StartListenerOptions = {}): Promise<ListenerHandle> {
  const config: ListenerConfig = { ...loadListenerConfig(), ...options.config };
  const logger = options.logger ?? createLogger('hl7-listener', config.logLevel);
  // Read the TLS files before connecting anywhere, so a missing file is the first error reported.
  const tls = config.tls === undefined ? undefined : loadTlsOptions(config.tls);
  const models = options.models ?? loadModelCatalog();
  const ownsMongo = options.mongo === undefined;
  const mongo = options.mongo ?? (await connectMongo(config));
  const store = new MessageStore(mongo.db, { logger });
  const metrics = createListenerMetrics();

  try {
    await store.ensureIndexes();
  } catch (err) {
    if (ownsMongo) {
      await mongo.client.close();
    }
    throw err;
  }

  const fhir = options.fhirClient ?? createFhirClient(config);
  const hub = new OutcomeHub();
  const workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const worker = new ProcessingWorker({
    store,
    logger,
    workerId,
    concurrency: config.processingConcurrency,
    batchSize: config.fhirBatchSize,
    leaseMs: config.leaseMs,
    maxAttempts: config.maxAttempts,
    maxRetryAgeMs: config.maxRetryAgeMs,
    retryBaseMs: config.retryBaseMs,
    retryMaxDelayMs: config.retryMaxDelayMs,
    pollIntervalMs: config.pollIntervalMs,
    closeGraceMs: config.closeGraceMs,
    attempt: async (messages) => {
      const startedAt = process.hrtime.bigint();
      try {
        return await processStoredBatch({ fhir, models, config, logger }, messages);
      } finally {
        // Each message of a batch took as long as the transaction they shared.
        const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
        for (let index = 0; index < messages.length; index += 1) {
          metrics.processingSeconds.observe(seconds);
        }
      }
    },
    finish: (message, outcome, exhausted) =>
      finishMessage(
        {
          hub,
          logger,
          channelOf: (stored) =>
            config.channels.find((channel) => channel.name === stored.channel) ??
            (stored.channel === DEFAULT_CHANNEL.name
              ? DEFAULT_CHANNEL
              : matchChannel(config.channels, stored.sendingApplication ?? '', stored.sendingFacility ?? '')),
          returnAddressTimeoutMs: 5_000,
        },
        message,
        outcome,
        exhausted
      ),
    onCompleted: (message, completion) => {
      hub.settle(message._id.toHexString(), completion);
    },
    onQueueDepth: (depth) => {
      metrics.queueDepth.set(depth);
    },
    acceptPriority: new AcceptPriority(config.acceptPriorityPerSecond, (yielding) => {
      metrics.processingYielding.set(yielding ? 1 : 0);
      logger.info(
        { yielding, thresholdPerSecond: config.acceptPriorityPerSecond },
        yielding
          ? 'Accept rate at or above the threshold: processing yields to the accept path'
          : 'Accept rate below the threshold: processing runs at full concurrency'
      );
    }),
  });
  const processor = createMessageProcessor({
    store,
    fhir,
    models,
    config,
    logger,
    metrics,
    hub,
    pipeline: config,
    enqueue: (message) => {
      worker.enqueue(message);
    },
    queuedMessage: (id) => worker.queued(id),
  });
  const server = new MllpServer({
    host: config.mllpHost,
    port: config.mllpPort,
    // Processing into FHIR runs in the worker, which observes `processingSeconds` per attempt.
    handler: processor,
    logger,
    maxMessageBytes: config.maxMessageBytes,
    idleTimeoutMs: config.idleTimeoutMs,
    closeGraceMs: config.closeGraceMs,
    maxConnections: config.maxConnections,
    tls,
    metrics,
  });
  try {
    await server.listen();
  } catch (err) {
    if (ownsMongo) {
      await mongo.client.close();
    }
    throw err;
  }
  // The first scan resumes messages an earlier run left unfinished.
  worker.start();

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    try {
      await server.close();
    } finally {
      try {
        await worker.close();
      } finally {
        if (ownsMongo) {
          await mongo.client.close();
        }
      }
    }
  };

  return {
    port: server.port,
    host: config.mllpHost,
    config,
    metrics,
    checkHealth: () => checkMongoHealth(mongo.db),
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}
