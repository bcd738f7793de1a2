/**
 * Model inventory: every AI model Device with version, FDA submission number, intended use, status,
 * last alert and volume. Status, alert and volume come from fhir-server-ext's `$monitoring-summary`.
 */
import type { SmartClient } from '../fhir.js';
import { loadModelInventory, type InventoryModel } from '../data/inventory.js';
import { StatusBadge } from './StatusBadge.js';
import { useLoad } from './use-load.js';

function SummaryCells({ model }: { model: InventoryModel }) {
  if (model.summary.kind === 'failed') {
    return (
      <td colSpan={3} className="problem-cell">
        Status unavailable: $monitoring-summary failed ({model.summary.message}).
      </td>
    );
  }

  const { value, lastAlert } = model.summary;
  return (
    <>
      <td>
        {/* $monitoring-summary returns ok for a model without metric windows, which would read as checked. */}
        {value.windows.length === 0 ? (
          <StatusBadge status="no data" />
        ) : (
          <StatusBadge status={value.status} />
        )}
      </td>
      <td>
        {lastAlert === undefined
          ? 'none'
          : `${lastAlert.window}: ${lastAlert.name} (${lastAlert.status}, subgroup ${lastAlert.subgroup})`}
      </td>
      <td className="number">{value.volume}</td>
    </>
  );
}

/** Renders the model inventory table with a link to each model's dashboard and compliance report. */
export function InventoryView({ client }: { client: SmartClient }) {
  const state = useLoad(() => loadModelInventory(client), [client]);

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
              <SummaryCells model={model} />
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
