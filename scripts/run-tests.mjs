#!/usr/bin/env node
// Runs every *.test.ts in the workspaces with Node's built-in test runner, one file at a time, because
// the integration tests share one set of peers (HAPI FHIR, FerretDB, Redis) and ports.
// Usage: node scripts/run-tests.mjs [path-filter ...]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const skipDirs = new Set(['node_modules', '.git', '.peers', 'dist', 'peers', 'fsh-generated']);

function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir)) {
    if (skipDirs.has(entry)) {
      continue;
    }
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      found.push(...findTests(path));
    } else if (entry.endsWith('.test.ts')) {
      found.push(relative(root, path));
    }
  }
  return found;
}

const filters = process.argv.slice(2);
const files = findTests(root)
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();

if (files.length === 0) {
  console.error('No test files matched.');
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit' }
);
process.exit(result.status ?? 1);
