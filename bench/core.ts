/** bench/core: throughput of the pure core on one thread — store apply,
 *  write gate submit→complete (spread and hot element), digest update, and
 *  the sync diff of two 1,000,000-element stores that differ in 100 keys —
 *  and the conference command path (bench/command-path.ts): its domain part
 *  alone (plan, mirror, view), and through both nodes in one process, with
 *  and without the idempotency marker. */

import { performance } from 'node:perf_hooks';
import { Digest, type KeyHash, hashKey } from '../src/core/digest.ts';
import { ElementStore } from '../src/core/element-store.ts';
import { SeededRandom } from '../src/core/random.ts';
import { diffStores } from '../src/core/sync-diff.ts';
import { type WriteRequest, WriteGate } from '../src/core/write-gate.ts';
import { benchCommandPath, benchPlanAndView } from './command-path.ts';
import { formatNumber, machine, median, repeat, saveResults, table } from './support.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SYNC_ELEMENTS = Number(process.env.BENCH_SYNC_ELEMENTS ?? 1_000_000);
const SYNC_DIFFERENCES = 100;

function participantKeys(count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; i < count; i++) keys.push(`s/session-${i >> 4}/p/participant-${i & 15}`);
  return keys;
}

const value = { muted: false, hand: null, role: 'participant', name: 'Ada Lovelace', tracks: ['audio', 'video'] };

/** Store apply: overwrite updates across 100,000 existing elements. */
function benchStoreApply(): number {
  const keys = participantKeys(100_000);
  const store = new ElementStore({ elementsMax: 1_000_000 });
  let ts = 1;
  for (const key of keys) store.apply(key, value, ts++);
  const ops = 1_000_000;
  const start = performance.now();
  for (let i = 0; i < ops; i++) store.apply(keys[i % keys.length]!, value, ts++);
  return ops / ((performance.now() - start) / 1000);
}

/** Gate submit → unit → complete → answer, one request per unit, across 100,000 elements. */
function benchGate(keyCount: number, batch: number): number {
  const keys = participantKeys(keyCount);
  const store = new ElementStore({ elementsMax: 1_000_000 });
  const gate = new WriteGate(store, { queueLengthMax: 4096, queuedMax: 1_000_000, groupSizeMax: 1024 });
  let ts = 1;
  const ops = 1_000_000;
  let answered = 0;
  const start = performance.now();
  for (let i = 0; i < ops; i += batch) {
    // `batch` requests arrive before replication of the first completes: a hot
    // element forms groups; spread keys each dispatch at once.
    for (let j = 0; j < batch; j++) {
      const request: WriteRequest = { key: keys[(i + j) % keys.length]!, value, deleted: false, ts: ts++, seq: 0, answer: undefined };
      gate.submit(request);
    }
    for (let unit = gate.pollUnit(); unit !== undefined; unit = gate.pollUnit()) gate.complete(unit, true);
    for (let unit = gate.pollUnit(); unit !== undefined; unit = gate.pollUnit()) gate.complete(unit, true);
    for (let r = gate.pollAnswered(); r !== undefined; r = gate.pollAnswered()) answered++;
  }
  const seconds = (performance.now() - start) / 1000;
  if (answered !== ops) throw new Error(`gate answered ${answered} of ${ops}`);
  return ops / seconds;
}

/** Digest toggle: one pair out, one pair in, as an overwrite does. */
function benchDigest(): number {
  const digest = new Digest();
  const hashes: KeyHash[] = participantKeys(100_000).map(hashKey);
  const ops = 2_000_000;
  const start = performance.now();
  for (let i = 0; i < ops; i++) digest.toggle(hashes[i % hashes.length]!, i + 1);
  return ops / ((performance.now() - start) / 1000);
}

/** Two stores of SYNC_ELEMENTS elements that differ in SYNC_DIFFERENCES keys. */
function buildSyncStores(): { a: ElementStore; b: ElementStore; changed: Set<string> } {
  const a = new ElementStore({ elementsMax: SYNC_ELEMENTS + 1 });
  const b = new ElementStore({ elementsMax: SYNC_ELEMENTS + 1 });
  const keys = participantKeys(SYNC_ELEMENTS);
  for (let i = 0; i < keys.length; i++) {
    a.apply(keys[i]!, i, i + 1);
    b.apply(keys[i]!, i, i + 1);
  }
  const random = new SeededRandom(0x5eed);
  const changed = new Set<string>();
  while (changed.size < SYNC_DIFFERENCES) changed.add(keys[random.below(keys.length)]!);
  for (const key of changed) b.apply(key, 'changed', SYNC_ELEMENTS + 10);
  return { a, b, changed };
}

function benchSyncDiff(a: ElementStore, b: ElementStore, changed: Set<string>): number {
  const start = performance.now();
  const differences = diffStores(a, b);
  const ms = performance.now() - start;
  if (differences.length !== changed.size || differences.some((d) => !changed.has(d.key))) {
    throw new Error(`sync diff found ${differences.length} differences, expected exactly the ${changed.size} changed keys`);
  }
  return ms;
}

/** Like `repeat`, for an async round: one warm-up, then `rounds` measured. */
async function repeatAsync(rounds: number, round: () => Promise<number>): Promise<number[]> {
  await round();
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) out.push(await round());
  return out;
}

export async function runCoreBench(): Promise<void> {
  const rows: { name: string; unit: string; runs: number[] }[] = [];
  const add = (name: string, unit: string, runs: number[]): void => {
    rows.push({ name, unit, runs });
    console.error(`  ${name}: median ${formatNumber(median(runs))} ${unit}`);
  };
  console.error(`bench/core: ${ROUNDS} rounds each after a warm-up; medians`);
  add('store apply (100k elements, overwrite)', 'ops/s', repeat(ROUNDS, benchStoreApply));
  add('gate submit→complete (100k elements)', 'updates/s', repeat(ROUNDS, () => benchGate(100_000, 64)));
  add('gate submit→complete (one hot element, 64 waiting)', 'updates/s', repeat(ROUNDS, () => benchGate(1, 64)));
  add('digest update (toggle)', 'ops/s', repeat(ROUNDS, benchDigest));
  const buildStart = performance.now();
  const { a, b, changed } = buildSyncStores();
  const buildMs = performance.now() - buildStart;
  add(`sync diff (${SYNC_ELEMENTS.toLocaleString('en-US')} vs same, ${SYNC_DIFFERENCES} differ)`, 'ms', repeat(ROUNDS, () => benchSyncDiff(a, b, changed)));
  add('conference plan + mirror apply + view, 4 participants', 'commands/s', repeat(ROUNDS, () => benchPlanAndView(4)));
  add('conference plan + mirror apply + view, 1,000 participants', 'commands/s', repeat(ROUNDS, () => benchPlanAndView(1_000, 100_000)));
  add('conference command, both nodes in one process, with request ids (marker)', 'commands/s', await repeatAsync(ROUNDS, () => benchCommandPath(true)));
  add('conference command, both nodes in one process, no request ids', 'commands/s', await repeatAsync(ROUNDS, () => benchCommandPath(false)));
  const host = machine();
  const printed = table(
    ['benchmark', 'median', 'unit', 'runs'],
    rows.map((r) => [r.name, formatNumber(median(r.runs)), r.unit, r.runs.map(formatNumber).join(' / ')]),
  );
  console.log(`\nbench/core on ${host.cpu} (${host.cores} cores), Node ${host.node}, single thread (the command rows: primary, secondary and their link in it)\n`);
  console.log(printed);
  console.log(`\n(building the two ${SYNC_ELEMENTS.toLocaleString('en-US')}-element stores took ${Math.round(buildMs)} ms)`);
  const path = saveResults('core', { machine: host, rounds: ROUNDS, results: rows.map((r) => ({ ...r, median: median(r.runs) })), syncBuildMs: buildMs });
  console.log(`saved ${path}`);
}
