/** Navigation between the patient view and the monitoring views, and the view of the current route. */
import type { ReactNode } from 'react';
import type { SmartClient } from '../fhir.js';
import { ComplianceReportView } from './ComplianceReportView.js';
import { DashboardView } from './DashboardView.js';
import { InventoryView } from './InventoryView.js';
import { useRoute } from './route.js';

/**
 * Renders the navigation and the view that the URL fragment selects; `patientView` is shown for the
 * patient route, and is null when the launch has no patient.
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
      {route.view === 'inventory' ? <InventoryView client={client} /> : null}
      {route.view === 'dashboard' ? <DashboardView client={client} deviceId={route.deviceId} /> : null}
      {route.view === 'report' ? <ComplianceReportView client={client} deviceId={route.deviceId} /> : null}
      {route.view === 'patient' ? patientView : null}
    </>
  );
}
