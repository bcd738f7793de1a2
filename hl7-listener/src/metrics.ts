import { Counter, Registry } from 'prom-client';
import type { AckCode } from './ack/ack-builder.js';

/** Prometheus counters of one listener, in their own registry so several listeners can run in one process. */
export interface ListenerMetrics {
  registry: Registry;
  received: Counter<'message_type'>;
  acks: Counter<'code'>;
}

/**
 * Creates the listener's counters: `hl7_messages_received_total{message_type}` and `hl7_acks_total{code}`.
 */
export function createListenerMetrics(): ListenerMetrics {
  const registry = new Registry();
  const received = new Counter({
    name: 'hl7_messages_received_total',
    help: 'HL7 v2 messages received over MLLP, by MSH-9 message type.',
    labelNames: ['message_type'] as const,
    registers: [registry],
  });
  const acks = new Counter({
    name: 'hl7_acks_total',
    help: 'Acknowledgments sent, by MSA-1 code.',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  return { registry, received, acks };
}

/** Counts one ACK. */
export function countAck(metrics: ListenerMetrics, code: AckCode): void {
  metrics.acks.inc({ code });
}
