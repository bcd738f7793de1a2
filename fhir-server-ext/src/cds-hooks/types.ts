/**
 * JSON shapes of CDS Hooks 2.0 (https://cds-hooks.hl7.org/2.0/) that this service sends and receives.
 * No maintained TypeScript package defines them, so they are written out here.
 */
import type { Coding } from '@medplum/fhirtypes';

/** One entry of the discovery response. */
export interface CdsServiceDefinition {
  hook: string;
  title?: string;
  description: string;
  id: string;
  /** Prefetch key to prefetch template (a relative FHIR read or search URL with `{{context.*}}` tokens). */
  prefetch?: Record<string, string>;
  usageRequirements?: string;
}

/** `fhirAuthorization` of a CDS request: an OAuth 2.0 bearer token for the client's FHIR server. */
export interface FhirAuthorization {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  subject: string;
  patient?: string;
}

/** Context of the patient-view hook (https://cds-hooks.hl7.org/hooks/patient-view/). */
export interface PatientViewContext {
  /** `Practitioner/…`, `PractitionerRole/…`, `Patient/…` or `RelatedPerson/…`. */
  userId: string;
  patientId: string;
  encounterId?: string;
}

/** A validated patient-view request body. */
export interface PatientViewRequest {
  hook: 'patient-view';
  hookInstance: string;
  fhirServer?: string;
  fhirAuthorization?: FhirAuthorization;
  context: PatientViewContext;
  /** Prefetch key to its result; null means the client found no data for that template. */
  prefetch?: Record<string, unknown>;
}

/** Card link; `smart` links are SMART App Launch URLs the client completes with launch parameters. */
export interface CdsLink {
  label: string;
  url: string;
  type: 'absolute' | 'smart';
  appContext?: string;
}

/** Card source: who provides the guidance. */
export interface CdsSource {
  label: string;
  url?: string;
  icon?: string;
  topic?: Coding;
}

/** Card suggestion; accepting it is reported through the feedback endpoint with its uuid. */
export interface CdsSuggestion {
  label: string;
  uuid?: string;
  isRecommended?: boolean;
}

/** Card indicator, in increasing urgency. */
export type CdsIndicator = 'info' | 'warning' | 'critical';

/** A CDS Hooks card. */
export interface CdsCard {
  uuid?: string;
  /** Fewer than 140 characters. */
  summary: string;
  /** GitHub Flavored Markdown. */
  detail?: string;
  indicator: CdsIndicator;
  source: CdsSource;
  suggestions?: CdsSuggestion[];
  selectionBehavior?: 'at-most-one' | 'any';
  overrideReasons?: Coding[];
  links?: CdsLink[];
}

/** One feedback item of `POST {baseUrl}/cds-services/{id}/feedback`. */
export interface CdsFeedback {
  /** The card's uuid. */
  card: string;
  outcome: 'accepted' | 'overridden';
  acceptedSuggestions?: { id: string }[];
  overrideReason?: { reason?: Coding; userComment?: string };
  /** ISO 8601 timestamp in UTC. */
  outcomeTimestamp: string;
}
