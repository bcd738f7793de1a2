import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AckCode } from './ack/ack-builder.js';

/**
 * Prometheus metrics of one listener, in their own registry so several listeners can run in one process.
 * https://prometheus.io/docs/practices/naming/
 */
export interface ListenerMetrics {
  registry: Registry;
  /** `hl7_messages_received_total{message_type}`: messages read from MSH-9, batch members counted one by one. */
  received: Counter<'message_type'>;
  /** `hl7_acks_total{code}`: acknowledgments by MSA-1 code. */
  acks: Counter<'code'>;
  /** `hl7_processing_queue_depth`: stored messages waiting for FHIR processing, set by the processing pipeline. */
  queueDepth: Gauge;
  /** `hl7_processing_yielding`: 1 while processing yields to a high accept rate, else 0. */
  processingYielding: Gauge;
  /** `hl7_processing_duration_seconds`: time from storing a message to the end of its FHIR processing. */
  processingSeconds: Histogram;
  /** `hl7_ack_latency_seconds`: time from the last byte of a frame to the write of its reply. */
  ackLatencySeconds: Histogram;
  /** `hl7_open_connections`: MLLP connections open now. */
  openConnections: Gauge;
  /** `hl7_rejected_connections_total{reason}`: connections closed at once, over the limit or at shutdown. */
  rejectedConnections: Counter<'reason'>;
  /** `hl7_tls_handshake_failures_total`: TLS connections that failed before a message could be read. */
  tlsFailures: Counter;
  /** `hl7_received_bytes_total`: bytes read from MLLP connections, framing and filler included. */
  receivedBytes: Counter;
}

/**
 * Latency buckets in seconds, from 0.5 ms to 10 s: an accept ACK after one MongoDB insert takes a few
 * milliseconds, and a FHIR transaction on a loaded server takes up to seconds.
 */
const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Reasons of `hl7_rejected_connections_total`. */
export const REJECTION_REASONS = ['limit', 'shutdown'] as const;

/** Creates the listener's metrics in a new registry. */
export function createListenerMetrics(): ListenerMetrics {
  const registry = new Registry();
  const registers = [registry];

  const rejectedConnections = new Counter({
    name: 'hl7_rejected_connections_total',
    help: 'MLLP connections closed at once, by reason (limit or shutdown).',
    labelNames: ['reason'] as const,
    registers,
  });
  // Both series are exported from the start, so an alert on their rate gets 0 rather than no data.
  for (const reason of REJECTION_REASONS) {
    rejectedConnections.inc({ reason }, 0);
  }

  return {
    registry,
    received: new Counter({
      name: 'hl7_messages_received_total',
      help: 'HL7 v2 messages received over MLLP, by MSH-9 message type.',
      labelNames: ['message_type'] as const,
      registers,
    }),
    acks: new Counter({
      name: 'hl7_acks_total',
      help: 'Acknowledgments sent, by MSA-1 code.',
      labelNames: ['code'] as const,
      registers,
    }),
    queueDepth: new Gauge({
      name: 'hl7_processing_queue_depth',
      help: 'Stored messages waiting for FHIR processing.',
      registers,
    }),
    processingYielding: new Gauge({
      name: 'hl7_processing_yielding',
      help: 'Whether processing yields to a high accept rate (1) or runs at full concurrency (0).',
      registers,
    }),
    processingSeconds: new Histogram({
      name: 'hl7_processing_duration_seconds',
      help: 'Time to process one stored message into FHIR, in seconds.',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    }),
    ackLatencySeconds: new Histogram({
      name: 'hl7_ack_latency_seconds',
      help: 'Time from the end of an MLLP frame to the write of its reply, in seconds.',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    }),
    openConnections: new Gauge({
      name: 'hl7_open_connections',
      help: 'MLLP connections open now.',
      registers,
    }),
    rejectedConnections,
    tlsFailures: new Counter({
      name: 'hl7_tls_handshake_failures_total',
      help: 'MLLP connections whose TLS handshake failed.',
      registers,
    }),
    receivedBytes: new Counter({
      name: 'hl7_received_bytes_total',
      help: 'Bytes read from MLLP connections, framing included.',
      registers,
    }),
  };
}

/** Counts one ACK. */
export function countAck(metrics: ListenerMetrics, code: AckCode): void {
  metrics.acks.inc({ code });
}
