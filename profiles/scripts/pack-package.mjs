#!/usr/bin/env node
// Packs SUSHI's output (fsh-generated/resources) and the THO code systems listed below as a FHIR NPM package, profiles/build/<id>-<version>.tgz,
// which HAPI installs at start (see peers/hapi IgPackageLoader). SUSHI with FSHOnly writes no
// package.json, so this script writes it from sushi-config.yaml.
// Layout (https://confluence.hl7.org/display/FHIR/NPM+Package+Specification): package/package.json,
// package/.index.json and one JSON file per resource under package/.
//
// Usage: node profiles/scripts/pack-package.mjs   (after `sushi build .` in profiles/)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';

const profilesDir = new URL('..', import.meta.url).pathname;

// HL7 Terminology (THO) code systems that the package carries, because HAPI 8.8's built-in R4 copy of
// v3-ObservationValue predates the AIAST code and HAPI has no THO package. The files come from the copy
// of hl7.terminology.r4#7.0.1 that prepare-core-package.mjs put into the FHIR package cache.
const THO_DIR = join(homedir(), '.fhir', 'packages', 'hl7.terminology.r4#7.0.1', 'package');
const THO_RESOURCES = ['CodeSystem-v3-ObservationValue.json'];
const resourcesDir = join(profilesDir, 'fsh-generated', 'resources');
const buildDir = join(profilesDir, 'build');

/** Reads the top-level `key: value` scalars of sushi-config.yaml that the package manifest needs. */
function readSushiConfig() {
  const text = readFileSync(join(profilesDir, 'sushi-config.yaml'), 'utf8');
  const config = {};
  for (const key of ['id', 'canonical', 'version', 'fhirVersion', 'title', 'description']) {
    const match = new RegExp(`^${key}:[ \\t]*(.+)$`, 'm').exec(text);
    if (match === null) {
      throw new Error(`sushi-config.yaml has no top-level "${key}:" line; add it before packing`);
    }
    config[key] = match[1].trim();
  }
  return config;
}

if (!existsSync(resourcesDir)) {
  console.error(
    `${resourcesDir} is missing: run "sushi build ." in profiles/ first (npm run build -w profiles)`
  );
  process.exit(1);
}

const config = readSushiConfig();
const stageDir = join(buildDir, 'stage');
const packageDir = join(stageDir, 'package');
rmSync(stageDir, { recursive: true, force: true });
mkdirSync(packageDir, { recursive: true });

const sources = readdirSync(resourcesDir)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((filename) => join(resourcesDir, filename));
for (const filename of THO_RESOURCES) {
  const path = join(THO_DIR, filename);
  if (!existsSync(path)) {
    console.error(`${path} is missing: run "node scripts/prepare-core-package.mjs" in profiles/ first`);
    process.exit(1);
  }
  sources.push(path);
}

const files = [];
for (const path of sources) {
  const filename = basename(path);
  const text = readFileSync(path, 'utf8');
  const resource = JSON.parse(text);
  writeFileSync(join(packageDir, filename), text);
  files.push({
    filename,
    resourceType: resource.resourceType,
    id: resource.id,
    url: resource.url,
    version: resource.version,
    kind: resource.kind,
    type: resource.type,
  });
}

writeFileSync(join(packageDir, '.index.json'), JSON.stringify({ 'index-version': 1, files }, null, 2));
writeFileSync(
  join(packageDir, 'package.json'),
  JSON.stringify(
    {
      name: config.id,
      version: config.version,
      canonical: config.canonical,
      title: config.title,
      description: config.description,
      fhirVersions: [config.fhirVersion],
      dependencies: { 'hl7.fhir.r4.core': config.fhirVersion },
      type: 'fhir.ig',
      license: 'Apache-2.0',
    },
    null,
    2
  )
);

const tarball = join(buildDir, `${config.id}-${config.version}.tgz`);
// GNU tar from the system: the package needs nothing beyond a gzipped ustar archive.
execFileSync('tar', ['-C', stageDir, '-czf', `${tarball}.tmp`, 'package']);
renameSync(`${tarball}.tmp`, tarball);
rmSync(stageDir, { recursive: true, force: true });
console.log(`packed ${files.length} resources into ${tarball}`);
