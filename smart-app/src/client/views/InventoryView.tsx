/**
 * Model inventory: every AI model Device with version, FDA submission number, intended use, status,
 * last alert and volume. The rows show as soon as the Device search returns, and each row's status,
 * alert and volume follow from fhir-server-ext's `$monitoring-summary`, a few models at a time.
 */
import { useMemo } from 'react';
import type { SmartClient } from '../fhir.js';
import {
  createLimiter,
  loadInventoryStatus,
  loadModelDevices,
  type InventoryModel,
} from '../data/inventory.js';
import { StatusBadge } from './StatusBadge.js';
import { useLoad } from './use-load.js';

/** Summaries requested at once. Browsers open about 6 connections per server, so 4 leave room for the rest. */
const MAX_SUMMARY_REQUESTS = 4;

type Limiter = ReturnType<typeof createLimiter>;

function SummaryCells({
  client,
  model,
  limit,
}: {
  client: SmartClient;
  model: InventoryModel;
  limit: Limiter;
}) {
  const state = useLoad(
    (signal) => limit(() => loadInventoryStatus(client, model.deviceId, signal)),
    [client, model.deviceId, limit]
  );

  if (state.kind === 'loading') {
    return (
      <td colSpan={3} className="muted" aria-busy="true">
        Loading the monitoring status…
      </td>
    );
  }
  if (state.kind === 'failed') {
    return (
      <td colSpan={3} className="problem-cell">
        Status unavailable: $monitoring-summary failed ({state.message}).
      </td>
    );
  }

  const { summary, lastAlert } = state.value;
  return (
    <>
      <td>
        {/* $monitoring-summary returns ok for a model without metric windows, which would read as checked. */}
        {summary.windows.length === 0 ? (
          <StatusBadge status="no data" />
        ) : (
          <StatusBadge status={summary.status} />
        )}
      </td>
      <td>
        {lastAlert === undefined
          ? 'none'
          : `${lastAlert.window}: ${lastAlert.ruleId ?? lastAlert.metric} (${lastAlert.status}, subgroup ${lastAlert.subgroup})`}
      </td>
      <td className="number">{summary.volume}</td>
    </>
  );
}

/** Renders the model inventory table with a link to each model's dashboard and compliance report. */
export function InventoryView({ client }: { client: SmartClient }) {
  const state = useLoad((signal) => loadModelDevices(client, signal), [client]);
  // One limiter per inventory, so summaries of an earlier, closed inventory never hold its slots.
  const limit = useMemo(() => createLimiter(MAX_SUMMARY_REQUESTS), [client]);

  if (state.kind === 'loading') {
    return (
      <p role="status" aria-live="polite">
        Loading the model inventory…
      </p>
    );
  }
  if (state.kind === 'failed') {
    return (
      <section className="notice problem" role="alert">
        <h2>Model inventory unavailable</h2>
        <p>The AI model Devices could not be read: {state.message}</p>
      </section>
    );
  }
  if (state.value.length === 0) {
    return (
      <section className="notice" role="status">
        <h2>No AI models</h2>
        <p>The FHIR server has no Device of type Artificial-Intelligence.</p>
      </section>
    );
  }

  return (
    <section aria-labelledby="inventory-title">
      <h2 id="inventory-title">Model inventory</h2>
      <table className="inventory">
        <caption>
          AI models in this facility, with their monitoring status over all stored daily windows
        </caption>
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Version</th>
            <th scope="col">FDA submission</th>
            <th scope="col">Intended use</th>
            <th scope="col">Status</th>
            <th scope="col">Last alert</th>
            <th scope="col">Volume (results)</th>
            <th scope="col">Views</th>
          </tr>
        </thead>
        <tbody>
          {state.value.map((model) => (
            <tr key={model.deviceId} data-device-id={model.deviceId}>
              <th scope="row">{model.name}</th>
              <td>{model.version ?? 'not recorded'}</td>
              <td>{model.fdaSubmissionNumber ?? 'not recorded'}</td>
              <td>{model.intendedUse ?? 'not recorded'}</td>
              <SummaryCells client={client} model={model} limit={limit} />
              <td>
                <a href={`#/models/${model.deviceId}`}>Dashboard</a>{' '}
                <a href={`#/models/${model.deviceId}/report`}>Compliance report</a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
