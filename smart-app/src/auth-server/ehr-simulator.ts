/**
 * A small EHR simulator for EHR launches. It creates a launch context for a patient and hands the app an
 * opaque `launch` id with the FHIR base URL as `iss`. It opens the app in a new page or inside an iframe
 * of its own chart page, as EHRs embed SMART apps, and serves the EHR's SMART style JSON.
 */
import type { Logger } from '@monitormed/common';
import express, { Router, type Request, type Response } from 'express';
import { patientExists } from './fhir-directory.js';
import type { LaunchContextStore } from './launch-contexts.js';
import { html, renderPage } from './pages.js';

/** Pattern of a FHIR R4 logical id (https://hl7.org/fhir/R4/datatypes.html#id). */
const FHIR_ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * SMART style of the simulated EHR (SMART App Launch 2.2, "Styling"): colors, dimensions and fonts that
 * an app may adopt so it looks like part of the EHR.
 */
export const EHR_SMART_STYLE = {
  color_background: '#f4f7fa',
  color_error: '#a4000f',
  color_highlight: '#0b3d66',
  color_modal_backdrop: '',
  color_success: '#1e6b2f',
  color_text: '#1a1a1a',
  dim_border_radius: '4px',
  dim_font_size: '16px',
  dim_spacing_size: '16px',
  font_family_body: "'Segoe UI', Roboto, sans-serif",
  font_family_heading: "'Segoe UI', Roboto, sans-serif",
};

/** Path of the style JSON below the issuer. */
export const SMART_STYLE_PATH = '/ehr/smart-style.json';

/** Dependencies of {@link createEhrSimulatorRouter}. */
export interface EhrSimulatorDependencies {
  contexts: LaunchContextStore;
  /** The app's launch URL. */
  launchUrl: string;
  /** FHIR base URL sent as `iss`. */
  fhirIss: string;
  /** FHIR server to check that the patient exists. */
  fhirBaseUrl: string;
  /** Absolute URL of the style JSON. */
  smartStyleUrl: string;
  timeoutMs: number;
  log: Logger;
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

/**
 * Renders the launch form. `patient` prefills the patient field, so that a link such as
 * `/ehr?patient=123` opens the form with that patient chosen.
 */
function startPage(message?: string, patient = ''): string {
  return renderPage(
    'EHR simulator',
    html`<header class="ehr-banner"><strong>MonitorMed test EHR</strong></header>
      <main>
        <h1>Launch MonitorMed for a patient</h1>
        ${message === undefined ? '' : html`<p class="error" role="alert">${message}</p>`}
        <form method="post" action="/ehr/launch">
          <label for="patient">Patient id</label>
          <input
            id="patient"
            name="patient"
            type="text"
            required
            pattern="[A-Za-z0-9\\-.]{1,64}"
            value="${patient}"
          />
          <label for="encounter">Encounter id (optional)</label>
          <input id="encounter" name="encounter" type="text" pattern="[A-Za-z0-9\\-.]{1,64}" />
          <label
            ><input type="checkbox" name="embed" value="true" /> Open inside the EHR chart (iframe)</label
          >
          <button type="submit">Launch</button>
        </form>
      </main>`
  );
}

function wantsJson(req: Request): boolean {
  return typeof req.is('application/json') === 'string';
}

/** Creates the router mounted at `/ehr`. */
export function createEhrSimulatorRouter(deps: EhrSimulatorDependencies): Router {
  const router = Router();
  router.use(express.urlencoded({ extended: false, limit: '10kb' }), express.json({ limit: '10kb' }));

  router.get('/', (req, res) => {
    // Only a valid FHIR id is prefilled; anything else leaves the field empty for the user to fill.
    const patient = req.query['patient'];
    const prefill = typeof patient === 'string' && FHIR_ID_PATTERN.test(patient) ? patient : '';
    res.type('html').send(startPage(undefined, prefill));
  });

  router.get('/smart-style.json', (_req, res) => {
    // The app fetches the style cross-origin; it is public and contains no patient data.
    res.set('Access-Control-Allow-Origin', '*').json(EHR_SMART_STYLE);
  });

  router.post('/launch', async (req: Request, res: Response) => {
    const json = wantsJson(req);
    const reject = (status: number, text: string): void => {
      if (json) {
        res.status(status).json({ error: 'invalid_request', error_description: text });
      } else {
        res.status(status).type('html').send(startPage(text));
      }
    };

    const patient = field(req.body, 'patient');
    const encounter = field(req.body, 'encounter');
    const embedValue = field(req.body, 'embed');
    const embed = embedValue === true || embedValue === 'true';
    if (typeof patient !== 'string' || !FHIR_ID_PATTERN.test(patient)) {
      reject(400, 'Invalid patient: expected a FHIR id of 1 to 64 letters, digits, hyphens or dots.');
      return;
    }
    if (
      encounter !== undefined &&
      encounter !== '' &&
      (typeof encounter !== 'string' || !FHIR_ID_PATTERN.test(encounter))
    ) {
      reject(400, 'Invalid encounter: expected a FHIR id of 1 to 64 letters, digits, hyphens or dots.');
      return;
    }
    let exists: boolean;
    try {
      exists = await patientExists(deps.fhirBaseUrl, patient, deps.timeoutMs);
    } catch (error) {
      deps.log.error({ err: error }, 'Patient check failed');
      reject(502, `The FHIR server could not be read: ${(error as Error).message}`);
      return;
    }
    if (!exists) {
      reject(404, `Patient ${patient} was not found on the FHIR server.`);
      return;
    }

    // An app inside the EHR's chart needs no banner of its own, because the chart around it names the patient.
    const launch = deps.contexts.createLaunch({
      patient,
      ...(typeof encounter === 'string' && encounter !== '' ? { encounter } : {}),
      needPatientBanner: !embed,
      smartStyleUrl: deps.smartStyleUrl,
    });
    const launchUrl = `${deps.launchUrl}?${new URLSearchParams({ iss: deps.fhirIss, launch }).toString()}`;
    deps.log.info({ embed }, 'Created an EHR launch');

    if (json) {
      res.status(201).json({ launch, launchUrl });
      return;
    }
    res.type('html').send(
      renderPage(
        'EHR chart',
        html`<header class="ehr-banner">
            <strong>MonitorMed test EHR</strong>: chart of patient <span id="ehr-patient">${patient}</span>
          </header>
          <main>
            <h1>Patient chart</h1>
            ${
              embed
                ? html`<iframe id="smart-app-frame" title="MonitorMed SMART app" src="${launchUrl}"></iframe>`
                : html`<p><a id="smart-app-link" href="${launchUrl}">Open MonitorMed</a></p>`
            }
          </main>`,
        embed
      )
    );
  });

  return router;
}
