/** Browser entry: reads the patient from the address and renders the app. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import './styles.css';

const rootElement = document.getElementById('root');
if (rootElement === null) {
  throw new Error('The page has no #root element; index.html and main.tsx are out of step.');
}

// TODO: take the patient from the SMART launch context (FHIR.oauth2.ready) once EHR launch exists.
const patientId = new URLSearchParams(window.location.search).get('patient');

createRoot(rootElement).render(
  <StrictMode>
    <App patientId={patientId} fhirBaseUrl={`${window.location.origin}/fhir`} />
  </StrictMode>
);
