/** Shared helpers for benchmarks: median of repeated rounds, a markdown
 *  table, the machine description, and saving results as JSON. */

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly date: string;
}

export function machine(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs `round` `rounds` times (after one warm-up) and returns every result. */
export function repeat<T>(rounds: number, round: () => T): T[] {
  round();
  const out: T[] = [];
  for (let i = 0; i < rounds; i++) out.push(round());
  return out;
}

/**
 * Runs `rounds` rounds of each runner round-robin (A B C, A B C, …), not each one's rounds back
 * to back: this machine's speed drifts by up to 2× within minutes, and a setup measured a
 * minute after another would carry that drift into their ratio. Results per runner, in order.
 */
export async function inTurns<T>(rounds: number, runners: readonly ((round: number) => Promise<T>)[]): Promise<T[][]> {
  const results: T[][] = runners.map(() => []);
  for (let round = 0; round < rounds; round++) for (const [k, run] of runners.entries()) results[k]!.push(await run(round));
  return results;
}

export function formatNumber(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

/** A markdown table: header row, separator, rows. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** Writes `bench/results/{name}.json` and returns its path. */
/** Saves a CPU profile as `bench/results/{name}.cpuprofile` (not committed: *.cpuprofile is ignored) and returns its path. */
export function saveProfile(name: string, profile: unknown): string {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.cpuprofile`);
  writeFileSync(path, JSON.stringify(profile));
  return path;
}

export function saveResults(name: string, data: unknown): string {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}
