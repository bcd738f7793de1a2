/**
 * Reading operation inputs and building FHIR Parameters outputs. An operation is invoked with GET and
 * query parameters or with POST and a Parameters body (https://hl7.org/fhir/R4/operations.html), so
 * both are read into one map of parameter name to string values.
 */
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { Request } from 'express';
import { OperationInputError } from './operation-input-error.js';

/** Input values by parameter name, in the order received. */
export type OperationInputs = Map<string, string[]>;

/** Query parameters that FHIR defines for every request, which are not operation inputs. */
const GENERAL_PARAMETERS = new Set(['_format', '_pretty', '_summary', '_elements']);

/**
 * Reads the inputs of a GET (query string) or POST (Parameters body) invocation.
 * @throws OperationInputError when a POST body is not a Parameters resource, or a parameter is not in `allowed`.
 */
export function readInputs(req: Request, allowed: readonly string[]): OperationInputs {
  const inputs: OperationInputs = new Map();
  const add = (name: string, value: string): void => {
    if (!allowed.includes(name)) {
      throw new OperationInputError(
        name,
        `Parameter '${name}' is not defined for this operation; use one of: ${allowed.join(', ')}.`
      );
    }
    inputs.set(name, [...(inputs.get(name) ?? []), value]);
  };

  for (const [name, value] of new URL(req.originalUrl, 'http://localhost').searchParams) {
    if (!GENERAL_PARAMETERS.has(name)) {
      add(name, value);
    }
  }

  if (req.method === 'POST') {
    const body = req.body as Partial<Parameters> | undefined;
    if (body?.resourceType !== 'Parameters') {
      throw new OperationInputError(
        'body',
        'The POST body must be a FHIR Parameters resource sent as application/fhir+json.'
      );
    }
    for (const parameter of body.parameter ?? []) {
      add(parameter.name, primitiveValue(parameter));
    }
  }
  return inputs;
}

function primitiveValue(parameter: ParametersParameter): string {
  const value =
    parameter.valueString ??
    parameter.valueCode ??
    parameter.valueDate ??
    parameter.valueDateTime ??
    parameter.valueInstant ??
    parameter.valueUri ??
    parameter.valueId ??
    (parameter.valueBoolean === undefined ? undefined : String(parameter.valueBoolean)) ??
    (parameter.valueInteger === undefined ? undefined : String(parameter.valueInteger)) ??
    (parameter.valueDecimal === undefined ? undefined : String(parameter.valueDecimal));
  if (value === undefined) {
    throw new OperationInputError(
      parameter.name,
      `Parameter '${parameter.name}' must have a primitive value (valueString, valueCode, valueDate or valueDateTime).`
    );
  }
  return value;
}

/**
 * Returns the single value of a parameter, or undefined when absent.
 * @throws OperationInputError when the parameter is repeated.
 */
export function singleInput(inputs: OperationInputs, name: string): string | undefined {
  const values = inputs.get(name);
  if (values !== undefined && values.length > 1) {
    throw new OperationInputError(
      name,
      `Parameter '${name}' may appear once, but appeared ${values.length} times.`
    );
  }
  return values?.[0];
}

/**
 * Returns a parameter's value when it is one of `choices`, or `fallback` when absent.
 * @throws OperationInputError naming the valid choices.
 */
export function codeInput<T extends string>(
  inputs: OperationInputs,
  name: string,
  choices: readonly T[],
  fallback: T
): T {
  const value = singleInput(inputs, name);
  if (value === undefined) {
    return fallback;
  }
  const choice = choices.find((candidate) => candidate === value);
  if (choice === undefined) {
    throw new OperationInputError(
      name,
      `Parameter '${name}' is '${value}'; use one of: ${choices.join(', ')}.`
    );
  }
  return choice;
}

/**
 * Parses a FHIR date or dateTime parameter (`YYYY`, `YYYY-MM`, `YYYY-MM-DD` or a full dateTime with a
 * time zone) into the instant it starts, in UTC.
 * @throws OperationInputError when the value is not a FHIR date or dateTime.
 */
export function dateInput(inputs: OperationInputs, name: string): Date | undefined {
  const value = singleInput(inputs, name);
  if (value === undefined) {
    return undefined;
  }
  const dateOnly = /^\d{4}(-\d{2}(-\d{2})?)?$/.test(value);
  const dateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value);
  // A partial date starts on the first day of its year or month.
  let fullDate = value;
  if (value.length === 4) {
    fullDate = `${value}-01-01`;
  } else if (value.length === 7) {
    fullDate = `${value}-01`;
  }
  const parsed = new Date(dateOnly ? `${fullDate}T00:00:00Z` : value);
  if ((!dateOnly && !dateTime) || Number.isNaN(parsed.getTime())) {
    throw new OperationInputError(
      name,
      `Parameter '${name}' is '${value}', which is not a FHIR date or dateTime; use for example 2026-01-31 or 2026-01-31T00:00:00Z.`
    );
  }
  return parsed;
}

/** A Parameters part: a name with a value or with nested parts. */
export type Part = ParametersParameter;

/** Builds a string part. */
export function stringPart(name: string, value: string): Part {
  return { name, valueString: value };
}

/** Builds a code part. */
export function codePart(name: string, value: string): Part {
  return { name, valueCode: value };
}

/** Builds a decimal part, or none when the value is absent or not finite (FHIR decimals cannot be NaN). */
export function decimalParts(name: string, value: number | null | undefined): Part[] {
  return value === null || value === undefined || !Number.isFinite(value)
    ? []
    : [{ name, valueDecimal: value }];
}

/** Builds an integer part. */
export function integerPart(name: string, value: number): Part {
  return { name, valueInteger: value };
}

/** Builds a boolean part. */
export function booleanPart(name: string, value: boolean): Part {
  return { name, valueBoolean: value };
}

/** Builds a part with nested parts. */
export function groupPart(name: string, parts: Part[]): Part {
  return { name, part: parts };
}

/** Wraps output parameters into a Parameters resource. */
export function toParameters(parameters: Part[]): Parameters {
  return { resourceType: 'Parameters', parameter: parameters };
}
