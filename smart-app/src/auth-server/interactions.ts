/**
 * Login and consent pages of the authorization server (oidc-provider "interactions"). Consent is also
 * where the launch context is settled: an EHR launch's `launch` id is resolved to its patient, and a
 * standalone launch that requests `launch/patient` shows a patient picker.
 */
import type { Logger } from '@monitormed/common';
import express, { Router, type Request, type Response } from 'express';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { patientExists, searchPatients, TEST_USERNAME, type PatientChoice } from './fhir-directory.js';
import type { LaunchContext, LaunchContextStore } from './launch-contexts.js';
import { html, renderPage, SafeHtml } from './pages.js';

/** Dependencies of {@link createInteractionRouter}. */
export interface InteractionDependencies {
  provider: Provider;
  contexts: LaunchContextStore;
  fhirBaseUrl: string;
  testUserPassword: string;
  fhirUser: () => string;
  /** URL of the SMART style JSON given to standalone launches. */
  smartStyleUrl: string;
  timeoutMs: number;
  log: Logger;
}

/** Launch context found at the consent step, or the reason the request cannot continue. */
type LaunchResolution =
  | { kind: 'ehr'; context: LaunchContext }
  | { kind: 'standalone'; needsPatient: boolean }
  | { kind: 'invalid'; description: string };

function scopesOf(params: Record<string, unknown>): string[] {
  const scope = params['scope'];
  return typeof scope === 'string' ? scope.split(' ').filter((item) => item !== '') : [];
}

function resolveLaunch(params: Record<string, unknown>, contexts: LaunchContextStore): LaunchResolution {
  const scopes = scopesOf(params);
  const launch = params['launch'];
  if (typeof launch === 'string' && launch !== '') {
    const context = contexts.resolveLaunch(launch);
    return context === undefined
      ? {
          kind: 'invalid',
          description: 'The launch id is unknown or expired; launch the app again from the EHR.',
        }
      : { kind: 'ehr', context };
  }
  if (scopes.includes('launch')) {
    return {
      kind: 'invalid',
      description:
        'The launch scope needs the launch parameter that the EHR sends; open the app from the EHR.',
    };
  }
  return { kind: 'standalone', needsPatient: scopes.includes('launch/patient') };
}

function loginPage(uid: string, message?: string): string {
  return renderPage(
    'Sign in: MonitorMed test EHR',
    html`<main>
      <h1>Sign in</h1>
      <p>MonitorMed test authorization server. The synthetic test user is <code>${TEST_USERNAME}</code>.</p>
      ${message === undefined ? '' : html`<p class="error" role="alert">${message}</p>`}
      <form method="post" action="/interaction/${uid}/login">
        <label for="username">User name</label>
        <input id="username" name="username" type="text" autocomplete="username" required />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit">Sign in</button>
      </form>
    </main>`
  );
}

function patientPicker(uid: string, query: string, choices: PatientChoice[] | undefined): SafeHtml {
  const rows = (choices ?? []).map(
    (choice) =>
      html`<div>
        <input
          type="radio"
          name="patient"
          form="consent-form"
          id="patient-${choice.id}"
          value="${choice.id}"
          required
        />
        <label for="patient-${choice.id}" style="display:inline"
          >${choice.name} (id
          ${choice.id}${choice.birthDate === undefined ? '' : `, born ${choice.birthDate}`})</label
        >
      </div>`
  );
  return html`<section aria-labelledby="picker-title">
    <h2 id="picker-title">Choose a patient</h2>
    <form method="get" action="/interaction/${uid}" role="search">
      <label for="patient-name">Patient name</label>
      <input id="patient-name" name="patientName" type="text" value="${query}" />
      <button type="submit">Search</button>
    </form>
    ${
      choices === undefined
        ? ''
        : choices.length === 0
          ? html`<p role="status">No patient matches this name.</p>`
          : html`<fieldset>
              <legend>Patients found</legend>
              ${rows}
            </fieldset>`
    }
  </section>`;
}

function consentPage(
  uid: string,
  scopes: string[],
  patientHtml: SafeHtml,
  canApprove: boolean,
  message?: string
): string {
  const scopeItems = scopes.map((scope) => html`<li><code>${scope}</code></li>`);
  return renderPage(
    'Allow access: MonitorMed test EHR',
    html`<main>
      <h1>Allow MonitorMed to access FHIR data?</h1>
      ${message === undefined ? '' : html`<p class="error" role="alert">${message}</p>`}
      <p>The app requests these scopes:</p>
      <ul>
        ${scopeItems}
      </ul>
      ${patientHtml}
      <form method="post" action="/interaction/${uid}/confirm" id="consent-form">
        ${canApprove ? html`<button type="submit">Allow</button>` : ''}
      </form>
      <form method="post" action="/interaction/${uid}/abort">
        <button type="submit">Deny</button>
      </form>
    </main>`
  );
}

function formValue(req: Request, name: string): string {
  const body = req.body as Record<string, unknown> | undefined;
  const value = body?.[name];
  return typeof value === 'string' ? value.trim() : '';
}

/** Creates the router of `/interaction/:uid` pages. */
export function createInteractionRouter(deps: InteractionDependencies): Router {
  const { provider, contexts, log } = deps;
  const router = Router();
  router.use(express.urlencoded({ extended: false, limit: '10kb' }));

  const finishWithError = async (req: Request, res: Response, description: string): Promise<void> => {
    await provider.interactionFinished(
      req,
      res,
      { error: 'invalid_request', error_description: description },
      { mergeWithLastSubmission: false }
    );
  };

  router.get('/:uid', async (req, res) => {
    const details = await provider.interactionDetails(req, res);
    const uid = details.uid;
    if (details.prompt.name === 'login') {
      res.type('html').send(loginPage(uid));
      return;
    }

    const launch = resolveLaunch(details.params, contexts);
    if (launch.kind === 'invalid') {
      log.warn({ interaction: uid }, 'Rejected an authorization with an invalid launch');
      await finishWithError(req, res, launch.description);
      return;
    }

    const scopes = scopesOf(details.params);
    if (launch.kind === 'ehr') {
      const patientHtml = html`<p>
        Patient in context: id <code>${launch.context.patient ?? 'none'}</code>.
      </p>`;
      res.type('html').send(consentPage(uid, scopes, patientHtml, true));
      return;
    }
    if (!launch.needsPatient) {
      res.type('html').send(consentPage(uid, scopes, html``, true));
      return;
    }

    const query = typeof req.query['patientName'] === 'string' ? req.query['patientName'].trim() : '';
    let choices: PatientChoice[] | undefined;
    let message: string | undefined;
    if (query !== '') {
      try {
        choices = await searchPatients(deps.fhirBaseUrl, query, deps.timeoutMs);
      } catch (error) {
        log.error({ err: error, interaction: uid }, 'Patient search failed');
        message = `The patient search failed: ${(error as Error).message}`;
      }
    }
    const canApprove = choices !== undefined && choices.length > 0;
    res.type('html').send(consentPage(uid, scopes, patientPicker(uid, query, choices), canApprove, message));
  });

  router.post('/:uid/login', async (req, res) => {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name !== 'login') {
      res.status(400).type('html').send(loginPage(details.uid, 'This sign-in step is already complete.'));
      return;
    }
    const username = formValue(req, 'username');
    if (username !== TEST_USERNAME || formValue(req, 'password') !== deps.testUserPassword) {
      log.warn({ interaction: details.uid }, 'Sign-in failed');
      res.status(401).type('html').send(loginPage(details.uid, 'Invalid user name or password.'));
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: username } },
      { mergeWithLastSubmission: false }
    );
  });

  router.post('/:uid/confirm', async (req, res) => {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    if (prompt.name !== 'consent' || session === undefined) {
      res.status(400).type('html').send(loginPage(details.uid, 'Sign in before allowing access.'));
      return;
    }

    const launch = resolveLaunch(params, contexts);
    if (launch.kind === 'invalid') {
      await finishWithError(req, res, launch.description);
      return;
    }
    let context: LaunchContext;
    if (launch.kind === 'ehr') {
      context = launch.context;
    } else {
      context = { needPatientBanner: true, smartStyleUrl: deps.smartStyleUrl };
      if (launch.needsPatient) {
        const patient = formValue(req, 'patient');
        if (patient === '' || !(await patientExists(deps.fhirBaseUrl, patient, deps.timeoutMs))) {
          const picker = patientPicker(details.uid, '', undefined);
          const text = 'Choose a patient: search by name and select one of the results.';
          res
            .status(400)
            .type('html')
            .send(consentPage(details.uid, scopesOf(params), picker, false, text));
          return;
        }
        context.patient = patient;
      }
    }

    const grant = new provider.Grant({ accountId: session.accountId, clientId: String(params['client_id']) });
    const missing = prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope !== undefined) {
      grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    }
    if (missing.missingOIDCClaims !== undefined) {
      grant.addOIDCClaims(missing.missingOIDCClaims);
    }
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    const grantId = await grant.save();
    contexts.bindGrant(grantId, { ...context, fhirUser: deps.fhirUser() });
    log.info({ interaction: details.uid, launch: launch.kind }, 'Access allowed');
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  });

  router.post('/:uid/abort', async (req, res) => {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'The user denied access.' },
      { mergeWithLastSubmission: false }
    );
  });

  router.use((error: Error, _req: Request, res: Response, next: (error?: unknown) => void) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof errors.SessionNotFound) {
      res
        .status(400)
        .type('html')
        .send(
          renderPage(
            'Sign-in expired',
            html`<main>
              <h1>Sign-in expired</h1>
              <p role="alert">
                This sign-in page is no longer valid (its cookie is missing or expired). Launch the app again
                from the EHR.
              </p>
            </main>`
          )
        );
      return;
    }
    next(error);
  });

  return router;
}
