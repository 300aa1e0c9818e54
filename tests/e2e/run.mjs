#!/usr/bin/env node
// Runs the browser tests one after another, each in a process of its own with its own `orrery up`: every
// `*.test.mjs` beside this file, or the ones named (`node run.mjs editor collaboration`). Options after `--` go to
// each test. Exits non-zero if any test failed, after running them all.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const split = args.indexOf('--');
const names = split === -1 ? args : args.slice(0, split);
const passOn = split === -1 ? [] : args.slice(split + 1);
const all = fs.readdirSync(here).filter((file) => file.endsWith('.test.mjs')).sort();
const chosen = names.length ? names.map((name) => `${name.replace(/\.test\.mjs$/, '')}.test.mjs`) : all;
const unknown = chosen.filter((file) => !all.includes(file));
if (unknown.length) {
  console.error(`e2e: no such test: ${unknown.join(', ')} (there are ${all.join(', ')})`);
  process.exit(2);
}
// One output directory for the whole run; each test writes into a folder of its own name there.
process.env.E2E_OUT ??= path.join(here, 'out', new Date().toISOString().replaceAll(':', '-').replace(/\..*/, ''));

const results = [];
for (const file of chosen) {
  console.log(`\n=== ${file}`);
  const started = Date.now();
  const run = spawnSync(process.execPath, [path.join(here, file), ...passOn], { stdio: 'inherit' });
  const status = run.status === 0 ? 'passed' : `FAILED (${run.signal ?? `exit ${run.status}`})`;
  results.push(`  ${file}: ${status} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
console.log(`\ne2e: ${results.length} test(s), output in ${process.env.E2E_OUT}`);
console.log(results.join('\n'));
process.exit(results.every((line) => line.includes(': passed')) ? 0 : 1);
