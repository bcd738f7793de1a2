/**
 * The AuditEvent of one CDS Hooks patient-view call. The cards disclose a patient's AI results and
 * Flags to the CDS client, so each call is audited like a read through the FHIR endpoint, with the
 * client's JWT issuer as the agent (https://cds-hooks.hl7.org/2.0/#trusting-cds-clients).
 */
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '@medplum/fhirtypes';
import { MONITORMED_BASE } from '@monitormed/common';
import {
  AUDIT_SOURCE,
  patientEntity,
  resourceEntity,
  SYSTEM_OBJECT,
  versionedReference,
} from '../proxy/records.js';
import type { VerifiedClient } from './client-auth.js';
import type { PatientAiData } from './patient-data.js';

/** Identifier system of a CDS client in AuditEvent agents; the value is the JWT `iss`. */
export const CDS_CLIENT_ID_SYSTEM = `${MONITORMED_BASE}/sid/cds-client`;

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

/** Facts of one patient-view call that its AuditEvent records. */
export interface CdsAuditRecord {
  client: VerifiedClient;
  patientId: string;
  hookInstance: string;
  /** Client address of the HTTP request. */
  clientAddress: string | undefined;
  data: PatientAiData;
}

/**
 * Builds the AuditEvent of one patient-view call: DICOM type Query with action E, the CDS client as
 * requestor, and the patient, its Flags and the flagged results as entities.
 */
export function buildCdsAuditEvent(record: CdsAuditRecord, recorded: Date): AuditEvent {
  const disclosed = [...record.data.flags, ...record.data.observations.values()].map(versionedReference);
  return {
    resourceType: 'AuditEvent',
    id: randomUUID(),
    type: { system: DCM, code: '110112', display: 'Query' },
    subtype: [{ system: 'https://cds-hooks.org/hooks', code: 'patient-view', display: 'patient-view' }],
    action: 'E',
    recorded: recorded.toISOString(),
    outcome: '0',
    agent: [
      {
        type: { coding: [{ system: DCM, code: '110150', display: 'Application' }] },
        who: { identifier: { system: CDS_CLIENT_ID_SYSTEM, value: record.client.iss } },
        requestor: true,
        ...(record.clientAddress === undefined
          ? {}
          : { network: { address: record.clientAddress, type: '2' } }),
      },
    ],
    source: AUDIT_SOURCE,
    entity: [
      patientEntity(`Patient/${record.patientId}`),
      ...disclosed.map(resourceEntity),
      // The hook instance ties this record to the EHR's own log of the call.
      {
        type: SYSTEM_OBJECT,
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '24', display: 'Query' },
        name: `hookInstance ${record.hookInstance}`,
      },
    ],
  };
}
