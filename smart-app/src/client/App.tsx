import { useEffect, useState, type ReactNode } from 'react';
import { loadPatientAiResults, type LoadOutcome, type SmartClient } from './fhir.js';
import { groupResultsByModel } from './data/group-results.js';
import { ResultsTable } from './ResultsTable.js';
import { FlagExplanation } from './views/FlagExplanation.js';
import { FlagResponses } from './views/FlagResponses.js';
import { MonitoringViews } from './views/MonitoringViews.js';

/** State of the SMART launch when the page renders. */
export type LaunchState =
  | { kind: 'not-launched' }
  | { kind: 'connecting' }
  | { kind: 'launch-failed'; message: string }
  | { kind: 'ready'; client: SmartClient; needPatientBanner: boolean };

/** Props of {@link App}. */
export interface AppProps {
  launch: LaunchState;
}

type ViewState = { kind: 'loading' } | LoadOutcome;

function HowToLaunch() {
  return (
    <>
      <p>
        Open MonitorMed from a patient's chart in the EHR, or start a{' '}
        <a href="./launch.html">standalone launch</a>, which asks you to sign in and choose a patient.
      </p>
      <p>
        Compliance teams open the <a href="./launch.html?mode=models">model inventory</a>, which needs no
        patient.
      </p>
    </>
  );
}

/**
 * Explains the frame case: browsers may partition or block storage of an app inside another site's
 * frame, so the launch state saved before the sign-in is gone when the frame returns.
 */
function FrameAdvice() {
  if (window.self === window.top) {
    return null;
  }
  return (
    <p>
      This page runs inside a frame of the EHR. If the browser blocks storage there, open MonitorMed in{' '}
      <a href="./launch.html" target="_blank" rel="noopener">
        its own window
      </a>
      .
    </p>
  );
}

function LaunchHelp() {
  return (
    <section className="notice" aria-labelledby="launch-help-title">
      <h2 id="launch-help-title">Not launched</h2>
      <p>This page was opened without a SMART launch, so it has no patient and no access to FHIR data.</p>
      <HowToLaunch />
    </section>
  );
}

function LaunchFailed({ message }: { message: string }) {
  return (
    <section className="notice problem" role="alert" aria-labelledby="launch-failed-title">
      <h2 id="launch-failed-title">Launch session missing or expired</h2>
      <p>
        The SMART launch could not be completed:{' '}
        <span className="launch-error">{message.replace(/[.\s]+$/, '')}</span>. This happens when the page is
        reloaded after its session ended, opened from an old link, or when the browser blocked storage inside
        the EHR frame.
      </p>
      <HowToLaunch />
      <FrameAdvice />
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

interface PatientResultsProps {
  client: SmartClient;
  patientId: string;
  needPatientBanner: boolean;
}

function PatientResults({ client, patientId, needPatientBanner }: PatientResultsProps) {
  const [state, setState] = useState<ViewState>({ kind: 'loading' });

  useEffect(() => {
    // A newer patient id or a React StrictMode re-run must not let an older request overwrite the state.
    let current = true;
    setState({ kind: 'loading' });
    const load = async (): Promise<LoadOutcome> => {
      try {
        return await loadPatientAiResults(client, patientId);
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
  }, [client, patientId]);

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
    case 'unauthorized':
      return (
        <Problem title="Access expired">
          The FHIR server rejected the app's access token (HTTP {state.status}). Launch the app again from the
          EHR to sign in again.
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
          {needPatientBanner ? (
            <p className="patient">
              Patient <strong>{state.patientName ?? 'without a name'}</strong> (id <code>{patientId}</code>)
            </p>
          ) : null}
          {state.results.rows.length === 0 ? (
            <section className="notice" role="status">
              <h2>No AI results</h2>
              <p>No AI-asserted results are recorded for this patient.</p>
            </section>
          ) : (
            groupResultsByModel(state.results.rows).map((group) => (
              <section key={group.label} className="model-group" aria-label={`Results of ${group.label}`}>
                <h2>{group.label}</h2>
                <ResultsTable
                  rows={group.rows}
                  renderFlagDetail={(row) => (
                    <>
                      <FlagResponses client={client} flags={row.flags} />
                      <FlagExplanation client={client} observationId={row.observationId} />
                    </>
                  )}
                />
              </section>
            ))
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
 * Renders the AI results page: the how-to-launch help when the page was not launched or the launch
 * failed, otherwise the patient's AI results with their monitoring flags, or why they cannot be shown.
 */
export function App({ launch }: AppProps) {
  let content: ReactNode;
  switch (launch.kind) {
    case 'not-launched':
      content = <LaunchHelp />;
      break;
    case 'connecting':
      content = (
        <p role="status" aria-live="polite">
          Completing the SMART launch…
        </p>
      );
      break;
    case 'launch-failed':
      content = <LaunchFailed message={launch.message} />;
      break;
    case 'ready': {
      // A launch without a patient, such as a compliance officer's `mode=models` launch, offers the model
      // views only.
      const patientId = launch.client.patient.id;
      content = (
        <MonitoringViews
          client={launch.client}
          patientView={
            patientId === null ? undefined : (
              <PatientResults
                client={launch.client}
                patientId={patientId}
                needPatientBanner={launch.needPatientBanner}
              />
            )
          }
        />
      );
      break;
    }
  }

  return (
    <main>
      <h1>MonitorMed: AI monitoring</h1>
      {content}
    </main>
  );
}
