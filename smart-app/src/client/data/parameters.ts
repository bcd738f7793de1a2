/**
 * Reads the FHIR Parameters that MonitorMed's operations return
 * (https://hl7.org/fhir/R4/parameters.html). Pure functions, so Node's test runner covers them.
 */
import type { ParametersParameter } from '@medplum/fhirtypes';

/** Returns every part named `name`, in order. */
export function partsNamed(
  parts: readonly ParametersParameter[] | undefined,
  name: string
): ParametersParameter[] {
  return (parts ?? []).filter((part) => part.name === name);
}

/** Returns the string or code value of the first part named `name`. */
export function textOf(parts: readonly ParametersParameter[] | undefined, name: string): string | undefined {
  const part = partsNamed(parts, name)[0];
  return part?.valueString ?? part?.valueCode ?? part?.valueDateTime;
}

/** Returns the decimal or integer value of the first part named `name`. */
export function numberOf(
  parts: readonly ParametersParameter[] | undefined,
  name: string
): number | undefined {
  const part = partsNamed(parts, name)[0];
  return part?.valueDecimal ?? part?.valueInteger;
}

/** Returns the boolean value of the first part named `name`. */
export function booleanOf(
  parts: readonly ParametersParameter[] | undefined,
  name: string
): boolean | undefined {
  return partsNamed(parts, name)[0]?.valueBoolean;
}
