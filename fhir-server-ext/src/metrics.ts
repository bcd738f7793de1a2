import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

/** Prometheus counters of the subscription hook, in a registry owned by one server instance. */
export interface HookMetrics {
  registry: Registry;
  /** Deliveries received, by HTTP method. */
  deliveries: Counter<'method'>;
  /** Analysis jobs added to the queue. */
  jobsEnqueued: Counter;
  /** Deliveries of a resource version whose job was already queued. */
  duplicateDeliveries: Counter;
  /** Deliveries of a version that the analyzers wrote back; no job is added for them. */
  analyzerWriteDeliveries: Counter;
  /** Deliveries rejected with an error status, by reason: unauthorized, invalid or unavailable. */
  rejectedDeliveries: Counter<'reason'>;
}

/**
 * Creates the hook counters in a new registry, with Node's default process metrics.
 * A registry per instance lets tests start several servers in one process without name clashes.
 * @returns The counters and their registry.
 */
export function createHookMetrics(): HookMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  return {
    registry,
    deliveries: new Counter({
      name: 'monitormed_subscription_deliveries_total',
      help: 'Rest-hook deliveries received from the FHIR server.',
      labelNames: ['method'],
      registers: [registry],
    }),
    jobsEnqueued: new Counter({
      name: 'monitormed_analyze_jobs_enqueued_total',
      help: 'Analysis jobs added to the analyze queue.',
      registers: [registry],
    }),
    duplicateDeliveries: new Counter({
      name: 'monitormed_subscription_duplicate_deliveries_total',
      help: 'Deliveries of a resource version that was already queued; no job was added.',
      registers: [registry],
    }),
    analyzerWriteDeliveries: new Counter({
      name: 'monitormed_subscription_analyzer_write_deliveries_total',
      help: "Deliveries of a version written by MonitorMed's analyzers; no job was added.",
      registers: [registry],
    }),
    rejectedDeliveries: new Counter({
      name: 'monitormed_subscription_deliveries_rejected_total',
      help: 'Deliveries rejected with an error status.',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
