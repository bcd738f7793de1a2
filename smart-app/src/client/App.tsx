import { useEffect, useState, type ReactNode } from 'react';
import { createOpenClient, FHIR_ID_PATTERN, loadPatientAiResults, type LoadOutcome } from './fhir.js';
import { ResultsTable } from './ResultsTable.js';

/** Props of {@link App}. */
export interface AppProps {
  /** The `patient` query parameter, or null when the page was opened without one. */
  patientId: string | null;
  /** FHIR base URL the app reads from; the app's own server proxies it to the FHIR server. */
  fhirBaseUrl: string;
}

type ViewState = { kind: 'loading' } | LoadOutcome;

function LaunchHelp() {
  return (
    <section className="notice" aria-labelledby="launch-help-title">
      <h2 id="launch-help-title">No patient selected</h2>
      <p>
        Open this app from the EHR with a patient in context, or add the patient's FHIR id to the address, for
        example <code>?patient=123</code>.
      </p>
    </section>
  );
}

function Problem({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="notice problem" role="alert">
      <h2>{title}</h2>
      <p>{children}</p>
    </section>
  );
}

function PatientResults({ patientId, fhirBaseUrl }: { patientId: string; fhirBaseUrl: string }) {
  const [state, setState] = useState<ViewState>({ kind: 'loading' });

  useEffect(() => {
    // A newer patient id or a React StrictMode re-run must not let an older request overwrite the state.
    let current = true;
    setState({ kind: 'loading' });
    const load = async (): Promise<LoadOutcome> => {
      try {
        return await loadPatientAiResults(createOpenClient(fhirBaseUrl), patientId);
      } catch (error) {
        // A bug in reading the Bundles must still end the loading message.
        return { kind: 'failed', message: error instanceof Error ? error.message : String(error) };
      }
    };
    void load().then((outcome) => {
      if (current) {
        setState(outcome);
      }
    });
    return () => {
      current = false;
    };
  }, [patientId, fhirBaseUrl]);

  switch (state.kind) {
    case 'loading':
      return (
        <p role="status" aria-live="polite">
          Loading AI results…
        </p>
      );
    case 'patient-not-found':
      return (
        <Problem title="Patient not found">
          The FHIR server has no patient with id <code>{patientId}</code>. Check the id, or open the app from
          the EHR.
        </Problem>
      );
    case 'unreachable':
      return (
        <Problem title="FHIR server unreachable">
          The FHIR server could not be reached, so no AI results can be shown. Try again later, or ask your
          administrator to check the FHIR server.
        </Problem>
      );
    case 'server-error':
      return (
        <Problem title="FHIR server error">
          The FHIR server returned HTTP {state.status} {state.statusText} while reading the AI results.
        </Problem>
      );
    case 'failed':
      return (
        <Problem title="Reading the AI results failed">
          The page could not read the AI results: {state.message}
        </Problem>
      );
    case 'loaded':
      return (
        <>
          <p className="patient">
            Patient <strong>{state.patientName ?? 'without a name'}</strong> (id <code>{patientId}</code>)
          </p>
          {state.results.rows.length === 0 ? (
            <section className="notice" role="status">
              <h2>No AI results</h2>
              <p>No AI-asserted results are recorded for this patient.</p>
            </section>
          ) : (
            <ResultsTable rows={state.results.rows} />
          )}
          {state.results.hasMoreResults ? (
            <p className="note">Only the newest {state.results.rows.length} results are shown.</p>
          ) : null}
          {state.results.unlinkedFlagCount > 0 ? (
            <p className="note">
              {state.results.unlinkedFlagCount} other active flag(s) on this patient do not point at a listed
              result.
            </p>
          ) : null}
        </>
      );
  }
}

/**
 * Renders the AI results page: the how-to-launch help without a patient, otherwise the patient's
 * AI results with their monitoring flags, or a message saying why they cannot be shown.
 */
export function App({ patientId, fhirBaseUrl }: AppProps) {
  let content: ReactNode;
  if (patientId === null || patientId === '') {
    content = <LaunchHelp />;
  } else if (!FHIR_ID_PATTERN.test(patientId)) {
    content = (
      <Problem title="Invalid patient id">
        The patient parameter must be a FHIR id: 1 to 64 letters, digits, hyphens or dots.
      </Problem>
    );
  } else {
    content = <PatientResults patientId={patientId} fhirBaseUrl={fhirBaseUrl} />;
  }

  return (
    <main>
      <h1>MonitorMed: AI results</h1>
      {content}
    </main>
  );
}
