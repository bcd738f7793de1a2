/**
 * SMART launch context, kept in memory: the opaque launch ids that the EHR simulator hands to the app,
 * and the context bound to each grant once the user has approved it. The server is for tests and local
 * demos, so a restart forgets every launch and grant, as oidc-provider's memory adapter does.
 */
import { randomBytes } from 'node:crypto';

/** Launch context of SMART App Launch 2.2 (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html). */
export interface LaunchContext {
  /** Logical id of the Patient in context. */
  patient?: string;
  /** Logical id of the Encounter in context. */
  encounter?: string;
  /** Whether the app must show its own patient banner (false when the EHR shows one around it). */
  needPatientBanner: boolean;
  /** URL of the EHR's SMART style JSON. */
  smartStyleUrl?: string;
}

/** The context of one approved grant: the launch context plus the user. */
export interface GrantContext extends LaunchContext {
  /** SMART `fhirUser`, such as `Practitioner/123`. */
  fhirUser: string;
}

/** How long a launch id can be used after the EHR created it. */
export const LAUNCH_TTL_MS = 10 * 60_000;

interface Stored<T> {
  value: T;
  expiresAtMs: number;
}

/** Launch ids and grant contexts with an expiry each. */
export class LaunchContextStore {
  private readonly launches = new Map<string, Stored<LaunchContext>>();
  private readonly grants = new Map<string, Stored<GrantContext>>();

  /**
   * @param grantTtlMs - How long a grant's context is kept; at least the refresh token lifetime, so a
   *   refreshed token still carries the patient.
   */
  constructor(private readonly grantTtlMs: number) {}

  /** Stores a launch context and returns its new opaque launch id. */
  createLaunch(context: LaunchContext, nowMs = Date.now()): string {
    this.prune(nowMs);
    const launchId = randomBytes(16).toString('base64url');
    this.launches.set(launchId, { value: context, expiresAtMs: nowMs + LAUNCH_TTL_MS });
    return launchId;
  }

  /** Returns the context of a launch id, or undefined when it is unknown or expired. */
  resolveLaunch(launchId: string, nowMs = Date.now()): LaunchContext | undefined {
    const stored = this.launches.get(launchId);
    return stored === undefined || stored.expiresAtMs <= nowMs ? undefined : stored.value;
  }

  /** Binds a context to a grant id. */
  bindGrant(grantId: string, context: GrantContext, nowMs = Date.now()): void {
    this.prune(nowMs);
    this.grants.set(grantId, { value: context, expiresAtMs: nowMs + this.grantTtlMs });
  }

  /** Returns the context bound to a grant, or undefined. */
  forGrant(grantId: string | undefined, nowMs = Date.now()): GrantContext | undefined {
    if (grantId === undefined) {
      return undefined;
    }
    const stored = this.grants.get(grantId);
    return stored === undefined || stored.expiresAtMs <= nowMs ? undefined : stored.value;
  }

  private prune(nowMs: number): void {
    for (const map of [this.launches, this.grants] as Map<string, Stored<unknown>>[]) {
      for (const [key, stored] of map) {
        if (stored.expiresAtMs <= nowMs) {
          map.delete(key);
        }
      }
    }
  }
}
