/**
 * Browser entry of the app page (the SMART redirect URI): completes the authorization with
 * `FHIR.oauth2.ready()`, applies the EHR's style and renders the app with the patient in context.
 */
import FHIR from 'fhirclient';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App, type LaunchState } from './App.js';
import { ErrorBoundary } from './ErrorBoundary.js';
import { applySmartStyle } from './smart-style.js';
import './styles.css';

/** Key under which fhirclient keeps the current state key in sessionStorage. */
const FHIRCLIENT_STATE_KEY = 'SMART_KEY';

const rootElement = document.getElementById('root');
if (rootElement === null) {
  throw new Error('The page has no #root element; index.html and main.tsx are out of step.');
}
const root = createRoot(rootElement);

function render(launch: LaunchState): void {
  root.render(
    <StrictMode>
      <ErrorBoundary>
        <App launch={launch} />
      </ErrorBoundary>
    </StrictMode>
  );
}

async function start(): Promise<void> {
  const params = new URLSearchParams(window.location.search);
  const isRedirect = params.has('code') || params.has('state') || params.has('error');
  // Without an authorization response and without a stored session, nothing launched this page.
  if (!isRedirect && sessionStorage.getItem(FHIRCLIENT_STATE_KEY) === null) {
    render({ kind: 'not-launched' });
    return;
  }

  render({ kind: 'connecting' });
  // fhirclient leaves client_id out of refresh requests by default, but a public client has no other way
  // to identify itself there (RFC 6749 section 3.2.1), so oidc-provider rejects the refresh without it.
  // fhirclient's settings type extends Record<string, any>, so the field is typed here.
  const settings = FHIR.oauth2.settings as { refreshTokenWithClientId?: boolean };
  settings.refreshTokenWithClientId = true;
  let client;
  try {
    client = await FHIR.oauth2.ready();
  } catch (error) {
    render({ kind: 'launch-failed', message: error instanceof Error ? error.message : String(error) });
    return;
  }

  const tokenResponse = client.state.tokenResponse ?? {};
  await applySmartStyle(tokenResponse['smart_style_url'], document.documentElement);
  render({
    kind: 'ready',
    client,
    // SMART App Launch: without need_patient_banner the app shows its own banner.
    needPatientBanner: tokenResponse['need_patient_banner'] !== false,
  });
}

void start();
