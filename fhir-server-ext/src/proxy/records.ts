/**
 * The AuditEvent written for each read of patient data and the Provenance written with each write,
 * both naming the token's user (`fhirUser`, else `sub`) and client (`client_id`). The AuditEvent follows
 * the pattern of IHE Basic Audit Log Patterns (BALP) for RESTful reads, on plain FHIR R4.
 */
import type {
  AuditEvent,
  AuditEventAgent,
  AuditEventEntity,
  Provenance,
  ProvenanceAgent,
  Resource,
} from '@medplum/fhirtypes';
import { MONITORMED_BASE } from '@monitormed/common';
import type { AccessToken } from '../auth/token-verifier.js';
import type { InteractionKind } from './interaction.js';

/** Identifier system of a user in AuditEvent and Provenance agents; the value is `fhirUser` or `sub`. */
export const USER_ID_SYSTEM = `${MONITORMED_BASE}/sid/oauth-user`;

/** Identifier system of an OAuth client in AuditEvent and Provenance agents; the value is `client_id`. */
export const CLIENT_ID_SYSTEM = `${MONITORMED_BASE}/sid/oauth-client`;

/** Name of this service in AuditEvent.source.observer. */
export const AUDIT_SOURCE_NAME = 'MonitorMed fhir-server-ext';

/** AuditEvent.source of every AuditEvent this service writes: itself, as an application server. */
export const AUDIT_SOURCE: AuditEvent['source'] = {
  observer: { display: AUDIT_SOURCE_NAME },
  type: [
    {
      system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
      code: '4',
      display: 'Application Server',
    },
  ],
};

/** Provenance activity per write, from http://terminology.hl7.org/CodeSystem/v3-DataOperation. */
export type WriteActivity = 'CREATE' | 'UPDATE' | 'DELETE';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

function userValue(token: AccessToken): string | undefined {
  return token.fhirUser ?? token.subject;
}

/** Result of one audited request. */
export interface AuditRecord {
  id: string;
  kind: InteractionKind;
  token: AccessToken;
  /** Client address of the HTTP request. */
  clientAddress: string | undefined;
  /** Patients whose data was returned, as `Patient/<id>`. */
  patients: string[];
  /** The returned resources of patient-compartment types, as `Type/id/_history/v` where known. */
  resources: string[];
  /** The search query, for searches. */
  query: string | undefined;
}

const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';

/** AuditEvent.entity.type of a resource or query (audit-entity-type 2). */
export const SYSTEM_OBJECT = { system: ENTITY_TYPE, code: '2', display: 'System Object' } as const;

/** Returns the AuditEvent entity of a patient whose data was disclosed, as BALP names it. */
export function patientEntity(reference: string): AuditEventEntity {
  return {
    what: { reference },
    type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
    role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
  };
}

/** Returns the AuditEvent entity of a disclosed resource other than the Patient. */
export function resourceEntity(reference: string): AuditEventEntity {
  return {
    what: { reference },
    type: SYSTEM_OBJECT,
    role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
  };
}

/**
 * Builds the AuditEvent of one read of patient data. It has type `rest` and the interaction as subtype,
 * with action R for reads and E for searches and operations, as BALP does. The user and client are its
 * agents, this service its source, and the patients, resources and query its entities.
 */
export function buildAuditEvent(record: AuditRecord, recorded: Date): AuditEvent {
  const agents: AuditEventAgent[] = [];
  const user = userValue(record.token);
  if (user !== undefined) {
    agents.push({
      type: {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
            code: 'IRCP',
            display: 'information recipient',
          },
        ],
      },
      who: { identifier: { system: USER_ID_SYSTEM, value: user } },
      requestor: true,
      ...(record.clientAddress === undefined
        ? {}
        : { network: { address: record.clientAddress, type: '2' } }),
    });
  }
  if (record.token.clientId !== undefined) {
    agents.push({
      type: { coding: [{ system: DCM, code: '110150', display: 'Application' }] },
      who: { identifier: { system: CLIENT_ID_SYSTEM, value: record.token.clientId } },
      requestor: user === undefined,
    });
  }
  if (agents.length === 0) {
    // AuditEvent.agent is 1..*; a token with neither sub nor client_id is still recorded.
    agents.push({ who: { display: 'unidentified token holder' }, requestor: true });
  }

  const entities: AuditEventEntity[] = [
    ...record.patients.map(patientEntity),
    ...record.resources.map(resourceEntity),
  ];
  if (record.query !== undefined) {
    entities.push({
      type: SYSTEM_OBJECT,
      role: { system: OBJECT_ROLE, code: '24', display: 'Query' },
      query: Buffer.from(record.query, 'utf8').toString('base64'),
    });
  }

  const isRead = record.kind === 'read' || record.kind === 'vread' || record.kind === 'history-instance';
  return {
    resourceType: 'AuditEvent',
    id: record.id,
    type: {
      system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
      code: 'rest',
      display: 'RESTful Operation',
    },
    subtype: [
      {
        system: 'http://hl7.org/fhir/restful-interaction',
        code: record.kind === 'page' ? 'search-type' : record.kind,
      },
    ],
    action: isRead ? 'R' : 'E',
    recorded: recorded.toISOString(),
    outcome: '0',
    agent: agents,
    source: AUDIT_SOURCE,
    entity: entities,
  };
}

/**
 * Builds the Provenance of one write through the proxy.
 * @param target - Reference to the written resource: `Type/id`, or the `urn:uuid:` fullUrl of a create.
 */
export function buildWriteProvenance(
  target: string,
  activity: WriteActivity,
  token: AccessToken,
  recorded: Date
): Provenance {
  const agents: ProvenanceAgent[] = [];
  const user = userValue(token);
  if (user !== undefined) {
    agents.push({
      type: participant('author', 'Author'),
      who: { identifier: { system: USER_ID_SYSTEM, value: user } },
    });
  }
  if (token.clientId !== undefined) {
    agents.push({
      type: participant('enterer', 'Enterer'),
      who: { identifier: { system: CLIENT_ID_SYSTEM, value: token.clientId } },
    });
  }
  if (agents.length === 0) {
    // Provenance.agent is 1..*; a token with neither sub nor client_id is still recorded as its issuer's.
    agents.push({ type: participant('author', 'Author'), who: { display: 'unidentified token holder' } });
  }

  return {
    resourceType: 'Provenance',
    target: [{ reference: target }],
    recorded: recorded.toISOString(),
    activity: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation',
          code: activity,
          display: activity.toLowerCase(),
        },
      ],
    },
    agent: agents,
  };
}

function participant(code: string, display: string): ProvenanceAgent['type'] {
  return {
    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code, display }],
  };
}

/** Returns `Type/id/_history/version`, or `Type/id` without a version. */
export function versionedReference(resource: Resource): string {
  const base = `${resource.resourceType}/${resource.id ?? ''}`;
  return resource.meta?.versionId === undefined ? base : `${base}/_history/${resource.meta.versionId}`;
}
