/**
 * Offline drift report: compares two CSV files column by column with Evidently 0.7's default tests (or the
 * tests given per column) and prints per-column results and the dataset verdict as JSON.
 *
 * Usage: npx tsx analyzers/src/cli/drift-report.ts --reference ref.csv --current cur.csv
 *          [--test column=psi] [--threshold column=0.2] [--correction bonferroni|bh]
 *          [--categorical col,...] [--numerical col,...] [--drift-share 0.5]
 * Exit status: 0 after printing the report, 2 on invalid input (the message says what to fix).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import { type ColumnType, type ColumnValue } from '../stats/binned-shares.js';
import { type PValueCorrection } from '../stats/multiple-testing.js';
import { evaluateDatasetDrift, type ColumnInput, type DatasetDriftResult } from '../stats/select-test.js';
import { isStatTestName, STAT_TEST_NAMES, type StatTestName } from '../stats/stat-tests.js';
import { UsageError } from './usage-error.js';

/** Text printed by --help. */
export const DRIFT_REPORT_USAGE = `Usage: drift-report --reference REF.csv --current CUR.csv [options]
Compares two CSV files (one column per feature, a header row) with Evidently 0.7's default drift tests
and prints each column's test, statistic, p-value or distance, threshold and verdict, and the dataset
verdict, as JSON.
Options:
  --test COLUMN=NAME        test for one column instead of the automatic choice: ${STAT_TEST_NAMES.join(', ')}
  --threshold COLUMN=VALUE  p-value or distance threshold of one column
  --correction NAME         p-value correction across columns: none (default), bonferroni or bh
  --categorical COL,...     treat these columns as categorical
  --numerical COL,...       treat these columns as numerical
  --drift-share SHARE       share of drifted columns that makes the dataset drifted; default 0.5
  --help                    print this help
Exit status: 0 after printing the report, 2 on invalid input.`;

/** A parsed CSV file: header names and rows of cells, '' for an empty cell. */
interface CsvTable {
  header: string[];
  rows: string[][];
}

/** Parsed command-line options. */
export interface DriftReportOptions {
  referencePath: string;
  currentPath: string;
  tests: Map<string, StatTestName>;
  thresholds: Map<string, number>;
  correction: PValueCorrection;
  categorical: Set<string>;
  numerical: Set<string>;
  driftShare: number;
}

/**
 * Parses the command-line arguments.
 * @param args - Arguments after the script name.
 * @returns The options.
 * @throws UsageError on a missing, unknown or invalid option.
 */
export function parseOptions(args: readonly string[]): DriftReportOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        reference: { type: 'string' },
        current: { type: 'string' },
        test: { type: 'string', multiple: true },
        threshold: { type: 'string', multiple: true },
        correction: { type: 'string' },
        categorical: { type: 'string', multiple: true },
        numerical: { type: 'string', multiple: true },
        'drift-share': { type: 'string' },
      },
      strict: true,
    });
  } catch (error) {
    throw new UsageError(
      `${(error as Error).message}. Run with --reference ref.csv --current cur.csv, or --help for every option.`
    );
  }

  const { values } = parsed;
  if (values.reference === undefined || values.current === undefined) {
    throw new UsageError(
      'Missing --reference or --current: give both CSV files, e.g. --reference ref.csv --current cur.csv.'
    );
  }

  const tests = new Map<string, StatTestName>();
  for (const [column, name] of (values.test ?? []).map((pair) => splitPair(pair, '--test'))) {
    if (!isStatTestName(name)) {
      throw new UsageError(
        `Unknown test '${name}' in --test ${column}=${name}; use one of ${STAT_TEST_NAMES.join(', ')}.`
      );
    }
    tests.set(column, name);
  }

  const thresholds = new Map<string, number>();
  for (const [column, text] of (values.threshold ?? []).map((pair) => splitPair(pair, '--threshold'))) {
    thresholds.set(column, parseNumberOption(text, `--threshold ${column}=${text}`));
  }

  const driftShareText = values['drift-share'];
  const driftShare = driftShareText === undefined ? 0.5 : parseNumberOption(driftShareText, '--drift-share');
  return {
    referencePath: values.reference,
    currentPath: values.current,
    tests,
    thresholds,
    correction: parseCorrection(values.correction),
    categorical: new Set((values.categorical ?? []).flatMap(splitList)),
    numerical: new Set((values.numerical ?? []).flatMap(splitList)),
    driftShare,
  };
}

function splitPair(pair: string, option: string): [string, string] {
  const separator = pair.lastIndexOf('=');
  if (separator <= 0 || separator === pair.length - 1) {
    throw new UsageError(`Invalid ${option} '${pair}': expected column=value.`);
  }
  return [pair.slice(0, separator), pair.slice(separator + 1)];
}

function splitList(list: string): string[] {
  return list
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

function parseNumberOption(text: string, option: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new UsageError(`Invalid number '${text}' in ${option}: expected a finite number such as 0.1.`);
  }
  return value;
}

function parseCorrection(text: string | undefined): PValueCorrection {
  if (text === undefined || text === 'none') {
    return 'none';
  }
  if (text === 'bonferroni') {
    return 'bonferroni';
  }
  if (text === 'bh' || text === 'benjamini-hochberg') {
    return 'benjamini-hochberg';
  }
  throw new UsageError(`Unknown --correction '${text}': use bonferroni, bh or none.`);
}

/**
 * Reads a CSV file with a header row.
 * @param path - File path.
 * @param label - 'reference' or 'current', for messages.
 * @returns Header and rows.
 * @throws UsageError when the file cannot be read or parsed or has no header.
 */
export function readCsv(path: string, label: string): CsvTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `Cannot read the ${label} file '${path}': ${(error as Error).message}. Check the path.`
    );
  }

  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, trim: true });
  } catch (error) {
    throw new UsageError(`Invalid CSV in the ${label} file '${path}': ${(error as Error).message}.`);
  }

  const [header, ...rows] = records;
  if (header === undefined || header.every((name) => name === '')) {
    throw new UsageError(
      `Missing header row in the ${label} file '${path}': the first line must name the columns.`
    );
  }
  const duplicate = header.find((name, index) => header.indexOf(name) !== index);
  if (duplicate !== undefined) {
    throw new UsageError(
      `Duplicate column '${duplicate}' in the ${label} file '${path}': give each column a unique name.`
    );
  }
  return { header, rows };
}

function columnCells(table: CsvTable, index: number): string[] {
  return table.rows.map((row) => row[index] ?? '');
}

function isNumberCell(cell: string): boolean {
  return cell === '' || Number.isFinite(Number(cell));
}

/**
 * Builds the column inputs: every reference column must exist in the current file. A column is numerical when
 * listed in --numerical, or when not listed in --categorical and every reference cell is a number or empty.
 * @param reference - Reference table.
 * @param current - Current table.
 * @param options - Parsed options.
 * @returns One input per reference column.
 * @throws UsageError on a missing column, a non-numeric cell in a numerical column or an unknown column in an option.
 */
export function buildColumns(
  reference: CsvTable,
  current: CsvTable,
  options: DriftReportOptions
): ColumnInput[] {
  const named = [
    ...options.tests.keys(),
    ...options.thresholds.keys(),
    ...options.categorical,
    ...options.numerical,
  ];
  for (const name of named) {
    if (!reference.header.includes(name)) {
      throw new UsageError(
        `Unknown column '${name}' in an option: the reference file has ${reference.header.join(', ')}.`
      );
    }
  }

  return reference.header.map((name, referenceIndex) => {
    const currentIndex = current.header.indexOf(name);
    if (currentIndex < 0) {
      throw new UsageError(
        `Missing column '${name}' in the current file '${options.currentPath}': add it or remove it from the reference.`
      );
    }

    const referenceCells = columnCells(reference, referenceIndex);
    const currentCells = columnCells(current, currentIndex);
    const declaredNumerical = options.numerical.has(name);
    const type: ColumnType =
      declaredNumerical || (!options.categorical.has(name) && referenceCells.every(isNumberCell))
        ? 'numerical'
        : 'categorical';

    const input: ColumnInput = {
      name,
      type,
      reference: toValues(referenceCells, type, name, options.referencePath),
      current: toValues(currentCells, type, name, options.currentPath),
    };
    const test = options.tests.get(name);
    const threshold = options.thresholds.get(name);
    return {
      ...input,
      ...(test === undefined ? {} : { test }),
      ...(threshold === undefined ? {} : { threshold }),
    };
  });
}

function toValues(
  cells: readonly string[],
  type: ColumnType,
  column: string,
  path: string
): (ColumnValue | null)[] {
  return cells.map((cell, row) => {
    if (cell === '') {
      return null;
    }
    if (type === 'categorical') {
      return cell;
    }

    const value = Number(cell);
    if (!Number.isFinite(value)) {
      throw new UsageError(
        `Invalid value '${cell}' in numerical column '${column}', data row ${String(row + 1)} of '${path}': fix the value, leave the cell empty, or pass --categorical ${column}.`
      );
    }
    return value;
  });
}

/**
 * Runs the report for the given arguments.
 * @param args - Arguments after the script name.
 * @returns The report.
 * @throws UsageError on invalid input.
 */
export function runDriftReport(args: readonly string[]): DatasetDriftResult {
  const options = parseOptions(args);
  const reference = readCsv(options.referencePath, 'reference');
  const current = readCsv(options.currentPath, 'current');
  const columns = buildColumns(reference, current, options);
  try {
    return evaluateDatasetDrift(columns, { driftShare: options.driftShare, correction: options.correction });
  } catch (error) {
    if (error instanceof RangeError) {
      throw new UsageError(`${error.message} Provide values for it or remove the column.`);
    }
    throw error;
  }
}

/** Replaces NaN and infinite numbers, which JSON cannot hold, by null. */
function finiteOrNull(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

function main(): void {
  if (process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h')) {
    process.stdout.write(`${DRIFT_REPORT_USAGE}\n`);
    return;
  }
  try {
    const report = runDriftReport(process.argv.slice(2));
    process.stdout.write(`${JSON.stringify(report, finiteOrNull, 2)}\n`);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`drift-report: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main();
}
