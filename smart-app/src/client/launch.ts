/**
 * SMART launch page: an EHR launch opens it with `iss` and `launch`, a standalone launch with `iss` only
 * or with nothing (then the configured default FHIR server is used). `mode=models` requests user-level
 * scopes without a patient, for the model views. It starts the authorization code flow with PKCE S256
 * through fhirclient and redirects to the authorization server.
 */
import FHIR from 'fhirclient';
import {
  CLIENT_CONFIG_PATH,
  LAUNCH_MODE_PARAMETER,
  LAUNCH_MODES,
  scopeFor,
  type SmartAppClientConfig,
} from './launch-config.js';
import './styles.css';

function showProblem(title: string, text: string): void {
  const main = document.getElementById('launch');
  if (main === null) {
    return;
  }
  const heading = document.createElement('h2');
  heading.textContent = title;
  const paragraph = document.createElement('p');
  paragraph.textContent = text;
  const section = document.createElement('section');
  section.className = 'notice problem';
  section.setAttribute('role', 'alert');
  section.append(heading, paragraph);
  document.getElementById('launch-status')?.remove();
  main.append(section);
}

async function launch(): Promise<void> {
  const params = new URLSearchParams(window.location.search);
  const response = await fetch(CLIENT_CONFIG_PATH);
  if (!response.ok) {
    throw new Error(`GET ${CLIENT_CONFIG_PATH} returned HTTP ${response.status}.`);
  }
  const config = (await response.json()) as SmartAppClientConfig;

  const modeText = params.get(LAUNCH_MODE_PARAMETER) ?? 'patient';
  const mode = LAUNCH_MODES.find((candidate) => candidate === modeText);
  if (mode === undefined) {
    showProblem(
      'Unknown launch mode',
      `The launch link has ${LAUNCH_MODE_PARAMETER}=${modeText}. Use ${LAUNCH_MODE_PARAMETER}=patient for a patient's AI results or ${LAUNCH_MODE_PARAMETER}=models for the model inventory.`
    );
    return;
  }

  const launchId = params.get('launch');
  const iss = params.get('iss') ?? (launchId === null ? config.defaultIss : null);
  if (iss === null) {
    showProblem(
      'Launch without a FHIR server',
      'The EHR sent a launch id without iss. Ask the EHR administrator to send both iss and launch.'
    );
    return;
  }
  if (!config.allowedIss.includes(iss.replace(/\/+$/, ''))) {
    showProblem(
      'Unknown FHIR server',
      `This app is not registered for the FHIR server ${iss}. It accepts ${config.allowedIss.join(', ')}.`
    );
    return;
  }

  await FHIR.oauth2.authorize({
    clientId: config.clientId,
    scope: scopeFor(config, mode, launchId !== null),
    iss,
    ...(launchId === null ? {} : { launch: launchId }),
    redirectUri: './index.html',
    pkceMode: 'required',
    // Inside an EHR iframe the whole flow stays in the frame instead of going to the parent window.
    completeInTarget: true,
  });
}

launch().catch((error: unknown) => {
  showProblem(
    'The launch failed',
    `${error instanceof Error ? error.message : String(error)} Open the app again from the EHR.`
  );
});
