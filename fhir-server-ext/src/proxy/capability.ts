/**
 * The proxy's CapabilityStatement (HAPI's, adjusted to what the proxy enforces) and its SMART
 * configuration document (https://hl7.org/fhir/smart-app-launch/conformance.html, SMART App Launch 2.2).
 */
import { readdir, readFile } from 'node:fs/promises';
import type {
  CapabilityStatement,
  CapabilityStatementRestResourceOperation,
  OperationDefinition,
} from '@medplum/fhirtypes';
import type { SmartConfig, IssuerMetadata } from '../auth/smart-config.js';

/** Folder of the OperationDefinitions that SUSHI generates from profiles/input/fsh. */
export const DEFAULT_OPERATION_DEFINITIONS_DIR = new URL(
  '../../../profiles/fsh-generated/resources/',
  import.meta.url
).pathname;

/** Extension of SMART App Launch that carries the OAuth URLs in `rest.security`. */
export const OAUTH_URIS_EXTENSION = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

/** Scopes published when the authorization server does not list its own: what the proxy enforces. */
export const DEFAULT_SCOPES_SUPPORTED = [
  'openid',
  'fhirUser',
  'launch',
  'launch/patient',
  'offline_access',
  'patient/*.cruds',
  'user/*.cruds',
  'system/*.cruds',
  'patient/*.rs',
  'user/*.rs',
  'system/*.rs',
];

/**
 * Reads the OperationDefinitions MonitorMed's FHIR package defines. A missing folder (package not
 * built) yields none.
 */
export async function loadOperationDefinitions(dir: string): Promise<OperationDefinition[]> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch {
    return [];
  }

  const definitions: OperationDefinition[] = [];
  for (const file of files.filter(
    (name) => name.startsWith('OperationDefinition-') && name.endsWith('.json')
  )) {
    definitions.push(JSON.parse(await readFile(`${dir}/${file}`, 'utf8')) as OperationDefinition);
  }
  return definitions;
}

/** Inputs of {@link adjustCapabilityStatement}. */
export interface CapabilityInputs {
  publicBaseUrl: string;
  issuer: IssuerMetadata | undefined;
  smart: SmartConfig;
  operations: OperationDefinition[];
}

/**
 * Adjusts the FHIR server's CapabilityStatement to the proxy: its base URL, SMART-on-FHIR security with
 * the oauth-uris extension, conditional delete removed (the proxy rejects it, because the Provenance
 * must name the deleted resource), and MonitorMed's operations added.
 */
export function adjustCapabilityStatement(
  upstream: CapabilityStatement,
  inputs: CapabilityInputs
): CapabilityStatement {
  const statement: CapabilityStatement = structuredClone(upstream);
  statement.implementation = {
    description: 'MonitorMed fhir-server-ext: SMART-on-FHIR secured FHIR endpoint',
    url: inputs.publicBaseUrl,
  };

  const authorize = inputs.smart.authorizationEndpoint ?? inputs.issuer?.authorization_endpoint;
  const token = inputs.smart.tokenEndpoint ?? inputs.issuer?.token_endpoint;
  const oauthUris = [
    ...(authorize === undefined ? [] : [{ url: 'authorize', valueUri: authorize }]),
    ...(token === undefined ? [] : [{ url: 'token', valueUri: token }]),
  ];

  for (const rest of statement.rest ?? []) {
    rest.security = {
      cors: true,
      ...(oauthUris.length === 0 ? {} : { extension: [{ url: OAUTH_URIS_EXTENSION, extension: oauthUris }] }),
      service: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
              code: 'SMART-on-FHIR',
            },
          ],
        },
      ],
      description:
        'Bearer JWT access tokens from the SMART authorization server, with SMART v2 scopes. Every read of patient data is recorded as an AuditEvent and every write lands with a Provenance.',
    };

    for (const resource of rest.resource ?? []) {
      resource.conditionalDelete = 'not-supported';
    }

    for (const definition of inputs.operations) {
      addOperation(rest, definition);
    }
  }
  return statement;
}

function addOperation(
  rest: NonNullable<CapabilityStatement['rest']>[number],
  definition: OperationDefinition
): void {
  const entry: CapabilityStatementRestResourceOperation = {
    name: definition.code,
    definition: definition.url ?? '',
  };
  if (definition.system) {
    rest.operation = [...(rest.operation ?? []).filter((operation) => operation.name !== entry.name), entry];
  }
  for (const type of definition.resource ?? []) {
    const resource = rest.resource?.find((candidate) => candidate.type === type);
    if (resource !== undefined) {
      resource.operation = [
        ...(resource.operation ?? []).filter((operation) => operation.name !== entry.name),
        entry,
      ];
    }
  }
}

/** The SMART configuration document, without the issuer fields that discovery could not provide. */
export interface SmartConfiguration {
  issuer?: string;
  jwks_uri?: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  grant_types_supported: string[];
  scopes_supported: string[];
  response_types_supported: string[];
  code_challenge_methods_supported: string[];
  capabilities: string[];
  token_endpoint_auth_methods_supported?: string[];
  revocation_endpoint?: string;
  introspection_endpoint?: string;
  registration_endpoint?: string;
}

/**
 * Builds `.well-known/smart-configuration` from the configuration and the issuer's discovery document;
 * configured values win over discovered ones.
 */
export function buildSmartConfiguration(
  smart: SmartConfig,
  issuer: IssuerMetadata | undefined
): SmartConfiguration {
  const optional = (name: string, value: string | undefined): Record<string, string> =>
    value === undefined ? {} : { [name]: value };
  return {
    ...optional('issuer', smart.issuer),
    ...optional('jwks_uri', smart.jwksUrl ?? issuer?.jwks_uri),
    ...optional('authorization_endpoint', smart.authorizationEndpoint ?? issuer?.authorization_endpoint),
    ...optional('token_endpoint', smart.tokenEndpoint ?? issuer?.token_endpoint),
    ...optional('revocation_endpoint', issuer?.revocation_endpoint),
    ...optional('introspection_endpoint', issuer?.introspection_endpoint),
    ...optional('registration_endpoint', issuer?.registration_endpoint),
    grant_types_supported: issuer?.grant_types_supported ?? ['authorization_code'],
    scopes_supported: issuer?.scopes_supported ?? DEFAULT_SCOPES_SUPPORTED,
    response_types_supported: issuer?.response_types_supported ?? ['code'],
    // SMART App Launch 2.2 requires S256 and forbids `plain`, whatever the issuer lists.
    code_challenge_methods_supported: ['S256'],
    capabilities: smart.capabilities,
  };
}
