/** The button below a result's Flags that shows, from `$explain-flag`, why the result was flagged. */
import { useState } from 'react';
import type { SmartClient } from '../fhir.js';
import { loadExplanation, type ResultExplanation } from '../data/explain-flag.js';
import { describeFailure } from '../data/inventory.js';

type ExplanationState =
  | { kind: 'closed' }
  | { kind: 'loading' }
  | { kind: 'loaded'; value: ResultExplanation }
  | { kind: 'failed'; message: string };

function ExplanationBody({ explanation }: { explanation: ResultExplanation }) {
  return (
    <div className="explanation">
      <p>
        Model:{' '}
        {explanation.model === undefined
          ? 'unknown'
          : `${explanation.model.name ?? 'unnamed'} version ${explanation.model.version ?? 'not recorded'} (from the AI Provenance)`}
      </p>
      {explanation.messages.map((message) => (
        <p key={message} className="note">
          {message}
        </p>
      ))}
      {explanation.flags.map((flag) => (
        <div key={flag.flagReference ?? flag.code} className="flag-explanation">
          <p>
            <strong>{flag.code ?? 'Flag'}</strong>: {flag.reason ?? 'no reason given'}
          </p>
          {flag.details.length === 0 ? null : (
            <dl>
              {flag.details.map((detail) => (
                <div key={`${detail.name}-${detail.value}`}>
                  <dt>{detail.name}</dt>
                  <dd>{detail.value}</dd>
                </div>
              ))}
            </dl>
          )}
        </div>
      ))}
    </div>
  );
}

/** Renders the "Why flagged?" button of one AI result and, once pressed, the explanation. */
export function FlagExplanation({ client, observationId }: { client: SmartClient; observationId: string }) {
  const [state, setState] = useState<ExplanationState>({ kind: 'closed' });

  const toggle = async () => {
    if (state.kind === 'loaded' || state.kind === 'failed') {
      setState({ kind: 'closed' });
      return;
    }
    setState({ kind: 'loading' });
    try {
      setState({ kind: 'loaded', value: await loadExplanation(client, observationId) });
    } catch (error) {
      setState({ kind: 'failed', message: describeFailure(error) });
    }
  };

  const regionId = `explanation-${observationId}`;
  return (
    <>
      <button
        type="button"
        className="explain"
        aria-expanded={state.kind === 'loaded'}
        aria-controls={regionId}
        onClick={() => void toggle()}
      >
        Why flagged?
      </button>
      <div id={regionId} aria-live="polite">
        {state.kind === 'loading' ? <p>Loading the explanation…</p> : null}
        {state.kind === 'failed' ? (
          <p className="problem-text">$explain-flag failed: {state.message}</p>
        ) : null}
        {state.kind === 'loaded' ? <ExplanationBody explanation={state.value} /> : null}
      </div>
    </>
  );
}
