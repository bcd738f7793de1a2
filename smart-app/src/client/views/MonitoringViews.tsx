/** Navigation between the patient view and the monitoring views, and the view of the current route. */
import { lazy, Suspense, type ReactNode } from 'react';
import type { SmartClient } from '../fhir.js';
import { useRoute } from './route.js';

// The monitoring views load on first use, so the patient view (the first view of an EHR launch) does
// not wait for Recharts, which is most of the bundle.
const InventoryView = lazy(async () => ({ default: (await import('./InventoryView.js')).InventoryView }));
const DashboardView = lazy(async () => ({ default: (await import('./DashboardView.js')).DashboardView }));
const ComplianceReportView = lazy(async () => ({
  default: (await import('./ComplianceReportView.js')).ComplianceReportView,
}));

/** Props of {@link MonitoringViews}. */
export interface MonitoringViewsProps {
  client: SmartClient;
  /** The patient view; undefined when the launch has no patient, so only the model views are offered. */
  patientView: ReactNode | undefined;
}

/**
 * Renders the navigation and the view that the URL fragment selects. Without a patient, the patient
 * route shows the model inventory and the navigation has no patient link.
 */
export function MonitoringViews({ client, patientView }: MonitoringViewsProps) {
  const route = useRoute();
  const hasPatient = patientView !== undefined;
  const view = route.view === 'patient' && !hasPatient ? 'inventory' : route.view;
  const current = (name: string) => (view === name ? ('page' as const) : undefined);
  return (
    <>
      <nav aria-label="Views" className="no-print">
        {hasPatient ? (
          <>
            <a href="#/" aria-current={current('patient')}>
              Patient
            </a>{' '}
          </>
        ) : null}
        <a href="#/inventory" aria-current={current('inventory')}>
          Model inventory
        </a>
      </nav>
      {hasPatient ? null : (
        <p className="note" role="status">
          This session has no patient in context, so only the model views are available.
        </p>
      )}
      <Suspense
        fallback={
          <p role="status" aria-live="polite">
            Loading the view…
          </p>
        }
      >
        {view === 'inventory' ? <InventoryView client={client} /> : null}
        {route.view === 'dashboard' ? <DashboardView client={client} deviceId={route.deviceId} /> : null}
        {route.view === 'report' ? <ComplianceReportView client={client} deviceId={route.deviceId} /> : null}
      </Suspense>
      {view === 'patient' ? patientView : null}
    </>
  );
}
