/**
 * The simulated `cxr-pneumothorax` model and the scanners its images come from. All names and numbers
 * are invented for the demo.
 */
import type { Rng } from './prng.js';

/** A DX scanner registered as a Device and named in ImagingStudy.series.performer. */
export interface Scanner {
  /** Identifier value in {@link SCANNER_ID_SYSTEM}. */
  id: string;
  manufacturer: string;
  modelName: string;
}

/** Identifier system of the simulated imaging devices. */
export const SCANNER_ID_SYSTEM = 'https://monitormed.dev/fhir/sid/imaging-device';

/** Scanner in use before the drift day. */
export const BASELINE_SCANNER: Scanner = {
  id: 'dx-room-1-acme',
  manufacturer: 'Acme Radiography',
  modelName: 'Acme DR 300',
};

/** Scanner that replaces it on the drift day; its images push the model's scores up. */
export const REPLACEMENT_SCANNER: Scanner = {
  id: 'dx-room-1-nova',
  manufacturer: 'Nova Imaging Systems',
  modelName: 'NovaRay X5',
};

/** Share of studies with a pneumothorax. */
const PREVALENCE = 0.05;

/**
 * Draws the log-odds the model outputs for one chest X-ray before any drift.
 * @param rng - Random source of this study.
 * @returns Log-odds: around -2.5 for a normal study, around 1.5 for a pneumothorax.
 */
export function cxrLogit(rng: Rng): number {
  const hasPneumothorax = rng.next() < PREVALENCE;
  return hasPneumothorax ? 1.5 + rng.normal() : -2.5 + 0.9 * rng.normal();
}
