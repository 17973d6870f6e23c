/** `npm run sim -- --seed S` runs one seed and prints its faults and log;
 *  `npm run sim -- --seeds N [--from F]` runs N seeds and stops at the first
 *  failure, printing the command that reproduces it. */

import { parseArgs } from 'node:util';
import { runScenario } from './scenario.ts';

const { values } = parseArgs({
  options: { seed: { type: 'string' }, seeds: { type: 'string' }, from: { type: 'string' }, verbose: { type: 'boolean' } },
  strict: true,
});

function seedOf(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    process.stderr.write(`sim: a seed is an integer from 0 to 0xffffffff, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return value;
}

function hex(seed: number): string {
  return `0x${seed.toString(16)}`;
}

if (values.seed !== undefined) {
  const seed = seedOf(values.seed);
  const result = runScenario({ seed });
  process.stdout.write(`seed ${hex(seed)}: ${result.acknowledged} acknowledged updates, ${result.failovers} failovers, ${result.collected} collected, ${result.events} events\n`);
  process.stdout.write(`faults:\n  ${result.faults.join('\n  ')}\n`);
  if (values.verbose === true) process.stdout.write(`log:\n  ${result.log.join('\n  ')}\n`);
  for (const v of result.violations) process.stdout.write(`VIOLATION ${v.kind}: ${v.message}\n`);
  process.exit(result.violations.length === 0 ? 0 : 1);
}

const count = values.seeds === undefined ? 500 : seedOf(values.seeds);
const from = values.from === undefined ? 1 : seedOf(values.from);
const started = Date.now();
let acknowledged = 0;
let failovers = 0;
for (let seed = from; seed < from + count; seed++) {
  const result = runScenario({ seed });
  acknowledged += result.acknowledged;
  failovers += result.failovers;
  if (result.violations.length > 0) {
    process.stdout.write(`seed ${hex(seed)} FAILED:\n`);
    for (const v of result.violations) process.stdout.write(`  ${v.kind}: ${v.message}\n`);
    process.stdout.write(`reproduce: npm run sim -- --seed ${hex(seed)} --verbose\n`);
    process.exit(1);
  }
  if ((seed - from + 1) % 1000 === 0) process.stdout.write(`${seed - from + 1} seeds passed (${Math.round((Date.now() - started) / 1000)} s)\n`);
}
process.stdout.write(`${count} seeds passed from ${hex(from)}: ${acknowledged} acknowledged updates checked, ${failovers} failovers, in ${Math.round((Date.now() - started) / 1000)} s\n`);
