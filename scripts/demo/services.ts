/**
 * Starts the MonitorMed services of the demo in this process: the HL7 listener with its operations
 * server, the SMART app, the SMART authorization server, fhir-server-ext with its SMART-secured FHIR
 * endpoint, CDS Hooks and ground-truth linking, and the analyzers.
 */
import { createLogger, type MonitorMedConfig } from '@monitormed/common';
import { startAnalyzers } from '@monitormed/analyzers';
import { loadSmartConfig, startFhirServerExt } from '@monitormed/fhir-server-ext';
import { loadListenerConfig, startListener, startOpsServer } from '@monitormed/hl7-listener';
import { startAuthServer, startSmartApp } from '@monitormed/smart-app';

/** Ports of the demo's services; 0 picks a free one, and a port left out comes from the configuration. */
export interface DemoPorts {
  mllp?: number;
  /** The listener's operations server with /metrics and /health (HL7_HTTP_PORT, default 2576). */
  listenerHttp?: number;
  fhirServerExt?: number;
  smartApp?: number;
  /** The SMART authorization server (port of AUTH_SERVER_URL, default 8083). */
  authServer?: number;
}

/** Settings of {@link startDemoServices}. */
export interface DemoServicesOptions {
  config: MonitorMedConfig;
  ports: DemoPorts;
  queuePrefix: string;
  /** Owner tag of the analysis Subscription; the ground-truth Subscriptions get `<owner>-ground-truth`. */
  subscriptionOwner: string;
  /** Criteria of the analysis Subscription; fhir-server-ext's default takes every AI result. */
  subscriptionCriteria?: string;
  removeSubscriptionsOnClose: boolean;
  /** Run ground-truth linking, with its own Subscriptions, hook and worker. */
  groundTruth: boolean;
  /** How long an original-mode ACK waits for processing; default HL7_ORIGINAL_ACK_WAIT_MS. */
  originalAckWaitMs?: number;
  /** Receives each started service's close function, in start order. */
  closers: (() => Promise<void>)[];
}

/** Ports and base URLs of the started services. */
export interface DemoServices {
  mllpPort: number;
  listenerHttpUrl: string;
  fhirServerExtUrl: string;
  /** fhir-server-ext's SMART-secured FHIR endpoint. */
  fhirEndpointUrl: string;
  smartAppUrl: string;
  /** Issuer of the authorization server, also the base URL of its endpoints and of the EHR simulator. */
  authIssuer: string;
}

/**
 * Starts every service and registers its close function in `options.closers`, so that the caller can
 * stop what started when a later step fails.
 * @throws The first start error, such as EADDRINUSE or an unreachable peer.
 */
export async function startDemoServices(options: DemoServicesOptions): Promise<DemoServices> {
  const { config, ports, closers } = options;

  const listenerConfig = {
    ...loadListenerConfig(),
    ...config,
    mllpPort: ports.mllp ?? config.mllpPort,
    ...(options.originalAckWaitMs === undefined ? {} : { originalAckWaitMs: options.originalAckWaitMs }),
  };
  const listener = await startListener({ config: listenerConfig });
  closers.push(() => listener.close());
  const ops = await startOpsServer({
    host: listenerConfig.httpHost,
    port: ports.listenerHttp ?? listenerConfig.httpPort,
    metrics: listener.metrics,
    checkHealth: () => listener.checkHealth(),
    logger: createLogger('hl7-listener', config.logLevel),
  });
  closers.push(() => ops.close());

  // The app starts before the authorization server, which registers the app's URLs. The app reads its
  // relay target per request, so fhir-server-ext can start last, once the issuer is known.
  let fhirEndpointUrl = '';
  const smartApp = await startSmartApp({
    port: ports.smartApp,
    fhirUpstreamUrl: () => fhirEndpointUrl,
  });
  closers.push(() => smartApp.close());

  const auth = await startAuthServer({
    port: ports.authServer,
    config: {
      redirectUris: [`${smartApp.url}/index.html`],
      launchUrl: `${smartApp.url}/launch.html`,
      fhirAudiences: [`${smartApp.url}/fhir`],
      fhirBaseUrl: config.fhirBaseUrl,
    },
  });
  closers.push(() => auth.close());

  // Access tokens name the app's /fhir relay as audience, because that is the FHIR base URL the app reads.
  const smart = loadSmartConfig();
  const ext = await startFhirServerExt({
    config,
    port: ports.fhirServerExt,
    queuePrefix: options.queuePrefix,
    subscriptionOwner: options.subscriptionOwner,
    ...(options.subscriptionCriteria === undefined
      ? {}
      : { subscriptionCriteria: options.subscriptionCriteria }),
    removeSubscriptionOnClose: options.removeSubscriptionsOnClose,
    smart: {
      ...smart,
      issuer: auth.issuer,
      audience: `${smartApp.url}/fhir`,
      allowedOrigins: smart.allowedOrigins.length > 0 ? smart.allowedOrigins : [smartApp.url],
    },
    ...(options.groundTruth
      ? {
          groundTruth: {
            queuePrefix: options.queuePrefix,
            subscriptionOwner: `${options.subscriptionOwner}-ground-truth`,
            removeSubscriptionsOnClose: options.removeSubscriptionsOnClose,
          },
        }
      : {}),
  });
  closers.push(() => ext.close());
  fhirEndpointUrl = ext.fhirEndpointUrl;

  const analyzers = await startAnalyzers({ config, queuePrefix: options.queuePrefix });
  closers.push(() => analyzers.close());

  return {
    mllpPort: listener.port,
    listenerHttpUrl: `http://127.0.0.1:${ops.port}`,
    fhirServerExtUrl: `http://127.0.0.1:${ext.port}`,
    fhirEndpointUrl,
    smartAppUrl: smartApp.url,
    authIssuer: auth.issuer,
  };
}
