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

/**
 * Renders the navigation and the view that the URL fragment selects. The patient route shows
 * `patientView`, which explains the problem when the launch has no patient.
 */
export function MonitoringViews({ client, patientView }: { client: SmartClient; patientView: ReactNode }) {
  const route = useRoute();
  const current = (view: string) => (route.view === view ? ('page' as const) : undefined);
  return (
    <>
      <nav aria-label="Views" className="no-print">
        <a href="#/" aria-current={current('patient')}>
          Patient
        </a>{' '}
        <a href="#/inventory" aria-current={current('inventory')}>
          Model inventory
        </a>
      </nav>
      <Suspense
        fallback={
          <p role="status" aria-live="polite">
            Loading the view…
          </p>
        }
      >
        {route.view === 'inventory' ? <InventoryView client={client} /> : null}
        {route.view === 'dashboard' ? <DashboardView client={client} deviceId={route.deviceId} /> : null}
        {route.view === 'report' ? <ComplianceReportView client={client} deviceId={route.deviceId} /> : null}
      </Suspense>
      {route.view === 'patient' ? patientView : null}
    </>
  );
}
