/**
 * Generates a seeded Synthea population as FHIR R4 transaction Bundles, with Synthea taken from Maven
 * Central (`org.mitre.synthea:synthea`) through the tiny pom in `synthea-data/synthea/`.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyntheaError } from './synthea-error.js';

/** Folder with the pom; `mvn dependency:copy-dependencies` fills its `lib/`. */
export const SYNTHEA_DIR = fileURLToPath(new URL('../synthea/', import.meta.url));

/** Synthea version of the pom, the newest release that resolved on Maven Central (checked 3.3.0 first). */
export const SYNTHEA_VERSION = '3.3.0';

/** Options of {@link generatePopulation}. */
export interface GenerateOptions {
  /** Number of living patients Synthea generates (its `-p`). */
  population: number;
  /** Seed of the population and of the clinicians (`-s` and `-cs`), so the output is reproducible. */
  seed: number;
  /** Folder Synthea writes into; the bundles land in `<outDir>/fhir`. */
  outDir: string;
  /**
   * End of the simulated histories as `YYYYMMDD` (Synthea's `-r`). Fixed by default, because Synthea
   * otherwise uses today's date and the same seed gives different records on different days.
   */
  referenceDate?: string;
  /** US state to draw the population from; Synthea ships demographics for every state. */
  state?: string;
  /** Maximum Java heap, such as `1g`; 10 patients peaked at about 0.9 GB resident. */
  javaHeap?: string;
  /** Time allowed for `mvn` or `java` before the process is killed. */
  timeoutMs?: number;
}

/** Result of a Synthea generation. */
export interface GenerateResult {
  /** Folder with the transaction Bundles, ready for `loadBundles`. */
  fhirDir: string;
  /** Number of Bundle files written (patients, hospitals and practitioners). */
  bundleFiles: number;
  syntheaVersion: string;
  durationMs: number;
}

/** Runs a process, keeping only the tail of its output because Synthea prints every patient's name. */
function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keepTail = (chunk: Buffer): void => {
      tail = (tail + chunk.toString('utf8')).slice(-2000);
    };
    child.stdout.on('data', keepTail);
    child.stderr.on('data', keepTail);

    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new SyntheaError(`Cannot start ${command}: ${err.message}. Is it installed and on PATH?`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolvePromise();
        return;
      }
      const reason =
        signal === null ? `exit code ${String(code)}` : `signal ${signal} (timeout ${String(timeoutMs)} ms?)`;
      reject(new SyntheaError(`${command} ${args[0] ?? ''} failed with ${reason}. Last output:\n${tail}`));
    });
  });
}

/**
 * Downloads Synthea and its dependencies into `synthea-data/synthea/lib` unless they are there already.
 * @param timeoutMs - Time allowed for Maven.
 * @returns The lib folder.
 * @throws SyntheaError when Maven fails, for example without access to Maven Central.
 */
export async function ensureSyntheaLib(timeoutMs = 900_000): Promise<string> {
  const libDir = join(SYNTHEA_DIR, 'lib');
  const jar = `synthea-${SYNTHEA_VERSION}.jar`;
  if (existsSync(join(libDir, jar))) {
    return libDir;
  }

  await run(
    'mvn',
    ['-q', '-B', 'dependency:copy-dependencies', `-Dsynthea.version=${SYNTHEA_VERSION}`],
    SYNTHEA_DIR,
    timeoutMs
  );
  if (!readdirSync(libDir).includes(jar)) {
    throw new SyntheaError(`Maven finished but ${join(libDir, jar)} is missing.`);
  }
  return libDir;
}

/**
 * Generates a seeded Synthea population with FHIR R4 transaction Bundles, including the hospital and
 * practitioner Bundles the patient Bundles refer to.
 * @param options - Population size, seed, output folder and Synthea settings.
 * @returns Where the Bundles are and how long it took.
 * @throws SyntheaError when Maven or Synthea fails.
 */
export async function generatePopulation(options: GenerateOptions): Promise<GenerateResult> {
  if (!Number.isInteger(options.population) || options.population < 1) {
    throw new SyntheaError(
      `Invalid population ${String(options.population)}: expected a whole number of at least 1.`
    );
  }
  if (!Number.isInteger(options.seed)) {
    throw new SyntheaError(`Invalid seed ${String(options.seed)}: expected a whole number.`);
  }
  const referenceDate = options.referenceDate ?? '20260301';
  if (!/^\d{8}$/.test(referenceDate)) {
    throw new SyntheaError(`Invalid reference date "${referenceDate}": expected YYYYMMDD.`);
  }

  const startedAt = Date.now();
  const timeoutMs = options.timeoutMs ?? 1_800_000;
  await ensureSyntheaLib(timeoutMs);

  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  const seed = String(options.seed);
  await run(
    'java',
    [
      `-Xmx${options.javaHeap ?? '1g'}`,
      '-cp',
      'lib/*',
      'App',
      '-s',
      seed,
      '-cs',
      seed,
      '-p',
      String(options.population),
      '-r',
      referenceDate,
      '--exporter.baseDirectory=' + outDir,
      '--exporter.fhir.export=true',
      '--exporter.fhir.transaction_bundle=true',
      '--exporter.hospital.fhir.export=true',
      '--exporter.practitioner.fhir.export=true',
      options.state ?? 'Massachusetts',
    ],
    SYNTHEA_DIR,
    timeoutMs
  );

  const fhirDir = join(outDir, 'fhir');
  const bundleFiles = (await readdir(fhirDir)).filter((f) => f.endsWith('.json')).length;
  return { fhirDir, bundleFiles, syntheaVersion: SYNTHEA_VERSION, durationMs: Date.now() - startedAt };
}
