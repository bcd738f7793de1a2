import type { ReactNode } from 'react';
import type { AiResultRow } from './results.js';
import { formatDateTime, formatDecimal, formatDrift, MISSING_VALUE } from './format.js';

/** Props of {@link ResultsTable}. */
export interface ResultsTableProps {
  rows: AiResultRow[];
  /** Extra content under the Flags of a flagged row, such as the $explain-flag button. */
  renderFlagDetail?: (row: AiResultRow) => ReactNode;
}

function FlagList({ row }: { row: AiResultRow }) {
  if (row.flags.length === 0) {
    return <span className="muted">None</span>;
  }
  return (
    <ul className="flag-list">
      {row.flags.map((flag) => (
        <li key={flag.flagId} className="flag">
          {flag.reason}
        </li>
      ))}
    </ul>
  );
}

/**
 * Renders one table row per AI result. The model name is the row header, so screen readers announce
 * it with every cell. Flags and drift are spelled out in text and never shown by color alone.
 */
export function ResultsTable({ rows, renderFlagDetail }: ResultsTableProps) {
  return (
    <table className="results">
      <caption>AI results, newest first</caption>
      <thead>
        <tr>
          <th scope="col">Model</th>
          <th scope="col">Date</th>
          <th scope="col">Probability</th>
          <th scope="col">Interpretation</th>
          <th scope="col">AI confidence</th>
          <th scope="col">Uncertainty (bits)</th>
          <th scope="col">Model drift</th>
          <th scope="col">Flags</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr
            key={row.observationId}
            data-observation-id={row.observationId}
            className={row.flags.length > 0 ? 'flagged' : undefined}
          >
            <th scope="row">
              {row.modelName}
              {row.modelVersion === undefined ? null : <span className="version"> v{row.modelVersion}</span>}
            </th>
            <td className="date">{formatDateTime(row.effectiveDateTime)}</td>
            <td className="number">{formatDecimal(row.probability)}</td>
            <td>{row.interpretation ?? MISSING_VALUE}</td>
            <td className="number">{formatDecimal(row.confidence)}</td>
            <td className="number">{formatDecimal(row.uncertaintyBits)}</td>
            <td className={row.drift?.detected === true ? 'drift-detected' : undefined}>
              {formatDrift(row.drift)}
            </td>
            <td>
              <FlagList row={row} />
              {row.flags.length > 0 && renderFlagDetail !== undefined ? renderFlagDetail(row) : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
